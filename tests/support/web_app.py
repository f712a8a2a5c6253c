"""A test client of a running core's whole web app: health, metrics, the HTTP API and Slack's events route."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Teambot
from bot.serve import build_web_app


@contextlib.asynccontextmanager
async def web_app_client(teambot: Teambot) -> AsyncIterator[TestClient]:
    """`async with web_app_client(teambot) as client:` the app `teambot serve` runs, served on loopback."""
    client = TestClient(TestServer(build_web_app(teambot)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def upload_form(*files: tuple[str, bytes], **fields: str) -> aiohttp.FormData:
    """An upload's `multipart/form-data`: the text `fields`, then one `file` part per (filename, bytes)."""
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    for filename, data in files:
        form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return form
