"""Attack: a 400 repeats the name of an unknown field or query parameter, and that name is the
client's own. A key of 3,000 characters with an escape sequence and a right-to-left override came
back whole in the error line (4 KB from a vote body, 64 KB from an ask body), ready to drive a
terminal or disguise a log line wherever the client prints it. The name is now printable and short.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from bot.app import Teambot
from bot.settings import Settings
from tests.support.web_app import web_app_client

TOKEN = "api-test-token"
HOSTILE_KEY = "\x1b[31m\u202e" + "k" * 3000


async def test_an_unknown_name_comes_back_printable_and_short(make_settings: Callable[..., Settings]) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    here = {"workspace": "W1", "channel": "ops"}
    async with Teambot(make_settings(api_token=TOKEN)) as teambot, web_app_client(teambot) as client:
        refused = [
            await client.post("/api/v1/answers/a1b2/feedback", params=here, headers=auth,
                              data=json.dumps({"vote": "down", HOSTILE_KEY: 1}).encode()),
            await client.post("/api/v1/ask", headers=auth, json={"question": "Port?", **here, HOSTILE_KEY: 1}),
            await client.get("/api/v1/documents", params={**here, HOSTILE_KEY: "1"}, headers=auth),
        ]
        for response in refused:
            assert response.status == 400
            error = (await response.json())["error"]
            assert error.startswith("unknown ") and "kkk" in error, error[:80]
            assert error.isprintable() and "\u202e" not in error and len(error) < 120, error[:80]
