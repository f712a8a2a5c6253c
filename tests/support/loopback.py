"""Serving the tests' fake services on loopback."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web


async def serve_on_loopback(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve `app` on a free 127.0.0.1 port chosen by the kernel; stop it with `await runner.cleanup()`."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()  # port 0: no race for a "free" port
    return runner, runner.addresses[0][1]


async def wait_until_ok(url: str, *, timeout_s: float = 10.0) -> None:
    """Poll `url` until it answers 200; fail the test if it has not within `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with aiohttp.ClientSession() as session:
        while asyncio.get_running_loop().time() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    pytest.fail(f"{url} did not answer 200 within {timeout_s:g} s")
