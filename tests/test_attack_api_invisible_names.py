"""Attack: the HTTP API took workspace, channel, platform, user and thread names holding control
and invisible characters (NUL, ESC, zero-width space, right-to-left override). `W\\u200b` is a
scope of its own that reads exactly like `W`: a client that sent one by mistake stored documents
and threads nobody listing `W` would find, and ESC sequences rode along into logs and replies.
They are refused with a one-line reason, as `:` and spaces are, and nothing is stored.
"""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.test_api import AUTH, GUIDE, _documents, _error, _form
from tests.test_api import api as api  # the fixture, re-exported for pytest

INVISIBLE = ["W\x00", "W\x1b[31m", "W\u200b", "\u202eW", "W\ufeff"]


@pytest.mark.parametrize("name", INVISIBLE)
async def test_names_with_control_or_invisible_characters_are_refused(api: TestClient, name: str) -> None:
    ask = {"question": "What is the default port?", "workspace": "W", "channel": "C"}
    for body in ({**ask, "workspace": name}, {**ask, "channel": name}, {**ask, "platform": name},
                 {**ask, "user": name}, {**ask, "thread": name}):
        error = await _error(await api.post("/api/v1/ask", json=body, headers=AUTH), 400)
        assert "control" in error, error
    response = await api.post("/api/v1/documents", headers=AUTH, data=_form(("guide.md", GUIDE), workspace=name,
                                                                           channel="C"))
    await _error(response, 400)
    await _error(await api.get("/api/v1/documents", params={"workspace": name, "channel": "C"}, headers=AUTH), 400)
    assert await _documents(api, workspace="W", channel="C") == []
