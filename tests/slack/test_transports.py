"""The two transports end to end: `teambot serve` in HTTP mode, and Socket Mode over a loopback websocket."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable

import aiohttp

from adapters.slack import create_adapter
from bot.app import Teambot
from bot.core.values import Scope
from bot.redis_server import free_port
from bot.serve import serve
from bot.settings import Settings
from tests.support.documents import DEPLOY_GUIDE
from tests.support.fake_slack import APP_TOKEN, TEAM_ID, FakeSlack
from tests.support.loopback import wait_until_ok
from tests.support.openai_server import FakeOpenAI
from tests.support.slack_bot import payload, signed_headers, slack_settings


async def test_serve_answers_mention_follow_up_and_retry_exactly_once(
        make_settings: Callable[..., Settings], fake_slack: FakeSlack, openai_server: FakeOpenAI) -> None:
    port = free_port()
    settings = slack_settings(make_settings, fake_slack, openai_server)
    async with Teambot(settings) as seeding:
        await seeding.knowledge.ingest(name="guide.md", data=DEPLOY_GUIDE, scope=Scope("slack", TEAM_ID, "C1"),
                                       uploader="U1")
    server = asyncio.create_task(serve(settings, port=port))
    try:
        async with aiohttp.ClientSession() as session:
            async def post(body: dict, **headers: str) -> int:
                raw = json.dumps(body)
                async with session.post(f"http://127.0.0.1:{port}/slack/events", data=raw,
                                        headers={**signed_headers(raw), **headers}) as response:
                    return response.status

            await wait_until_ok(f"http://127.0.0.1:{port}/healthz")
            mention = payload("app_mention")
            assert await post(mention) == 200
            assert await post(mention, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}) == 200
            [answer] = await fake_slack.wait_for(lambda: fake_slack.messages())
            assert answer.params["thread_ts"] == "1700000000.000100"
            await fake_slack.wait_for(lambda: fake_slack.final_update(answer.ts))

            assert await post(payload("message_thread_reply")) == 200
            answers = await fake_slack.wait_for(lambda: fake_slack.messages()[1:])
            assert answers[0].params["thread_ts"] == "1700000000.000100"
            await fake_slack.wait_for(lambda: fake_slack.final_update(answers[0].ts))
            await asyncio.sleep(0.2)
            assert len(fake_slack.messages()) == 2, "the retry produced no second answer"
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        # serve() installs SIGINT/SIGTERM handlers on the shared test loop; give them back.
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().remove_signal_handler(sig)


async def test_socket_mode_round_trip_over_a_loopback_websocket(
        make_settings: Callable[..., Settings], fake_slack: FakeSlack, openai_server: FakeOpenAI) -> None:
    settings = slack_settings(make_settings, fake_slack, openai_server, slack_app_token=APP_TOKEN,
                              slack_signing_secret=None)
    async with Teambot(settings) as teambot:
        await teambot.knowledge.ingest(name="guide.md", data=DEPLOY_GUIDE, scope=Scope("slack", TEAM_ID, "C1"),
                                       uploader="U1")
        adapter = create_adapter(teambot, web_app=None)
        async with adapter:
            [opened] = fake_slack.of("apps.connections.open")
            assert opened.params["_auth"] == f"Bearer {APP_TOKEN}"
            await fake_slack.wait_for(lambda: fake_slack._sockets)
            envelope = {"envelope_id": "env-1", "type": "events_api", "accepts_response_payload": False,
                        "retry_attempt": 0, "retry_reason": "", "payload": payload("app_mention")}
            await fake_slack.send_envelope(envelope)
            await fake_slack.wait_for(lambda: fake_slack.socket_acks)
            assert fake_slack.socket_acks[0]["envelope_id"] == "env-1"
            # A redelivery after a reconnect carries the same event id: no second answer.
            await fake_slack.send_envelope({**envelope, "envelope_id": "env-2", "retry_attempt": 1})
            [answer] = await fake_slack.wait_for(lambda: fake_slack.messages())
            assert answer.params["thread_ts"] == "1700000000.000100"
            await fake_slack.wait_for(lambda: fake_slack.final_update(answer.ts))
            await fake_slack.wait_for(lambda: len(fake_slack.socket_acks) == 2)
            await adapter.idle()
            assert len(fake_slack.messages()) == 1
