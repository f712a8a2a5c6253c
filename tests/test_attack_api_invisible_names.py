"""Attack: the HTTP API took workspace, channel, platform, user and thread names holding control
and invisible characters (NUL, ESC, zero-width space, right-to-left override). `W\\u200b` is a
scope of its own that reads exactly like `W`: a client that sent one by mistake stored documents
and threads nobody listing `W` would find, and ESC sequences rode along into logs and replies.
They are refused with a one-line reason, as `:` and spaces are, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from bot.app import Teambot
from bot.settings import Settings
from tests.support.web_app import web_app_client

TOKEN = "api-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GUIDE = b"# Deploy guide\n\nThe default port of the web console is 8080.\n"
INVISIBLE = ["W\x00", "W\x1b[31m", "W\u200b", "\u202eW", "W\ufeff"]


@pytest.fixture
async def api(make_settings: Callable[..., Settings]) -> AsyncIterator[TestClient]:
    async with Teambot(make_settings(api_token=TOKEN)) as teambot, web_app_client(teambot) as client:
        yield client


async def _refusal(response: aiohttp.ClientResponse) -> str:
    assert response.status == 400, await response.text()
    error = (await response.json())["error"]
    assert isinstance(error, str) and "\n" not in error
    return error


@pytest.mark.parametrize("name", INVISIBLE)
async def test_names_with_control_or_invisible_characters_are_refused(api: TestClient, name: str) -> None:
    ask = {"question": "What is the default port?", "workspace": "W", "channel": "C"}
    for body in ({**ask, "workspace": name}, {**ask, "channel": name}, {**ask, "platform": name},
                 {**ask, "user": name}, {**ask, "thread": name}):
        assert "control" in await _refusal(await api.post("/api/v1/ask", json=body, headers=AUTH))
    form = aiohttp.FormData()
    form.add_field("workspace", name)
    form.add_field("channel", "C")
    form.add_field("file", GUIDE, filename="guide.md", content_type="application/octet-stream")
    await _refusal(await api.post("/api/v1/documents", headers=AUTH, data=form))
    await _refusal(await api.get("/api/v1/documents", params={"workspace": name, "channel": "C"}, headers=AUTH))
    listing = await api.get("/api/v1/documents", params={"workspace": "W", "channel": "C"}, headers=AUTH)
    assert (await listing.json())["documents"] == []
