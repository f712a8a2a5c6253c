"""The Slack harness: a running core and adapter in HTTP mode, signed requests over loopback, captured payloads."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from adapters.slack import SlackAdapter, create_adapter
from bot.app import Teambot
from bot.core.values import Scope
from bot.redis_server import free_port
from bot.serve import build_web_app
from bot.settings import Settings
from tests.support.documents import DEPLOY_GUIDE
from tests.support.fake_slack import BOT_TOKEN, TEAM_ID, FakeSlack
from tests.support.openai_server import FakeOpenAI

PAYLOADS = Path(__file__).with_name("slack_payloads")
SIGNING_SECRET = "secret"


def payload(name: str) -> dict[str, Any]:
    """A captured Slack payload from `slack_payloads/`, freshly copied."""
    return copy.deepcopy(json.loads((PAYLOADS / f"{name}.json").read_text()))


def signed_headers(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None,
                   content_type: str = "application/json") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, "Content-Type": content_type}


@dataclass
class SlackHarness:
    """A running teambot + Slack adapter behind a real aiohttp server on a free port."""

    fake: FakeSlack
    teambot: Teambot
    adapter: SlackAdapter
    url: str
    session: aiohttp.ClientSession
    triggers: int = 0
    """Slack gives each command and interaction its own trigger_id; so does the harness."""

    def next_trigger_id(self) -> str:
        self.triggers += 1
        return f"1700000500.{self.triggers}.ghi"

    async def post(self, body: str, *, content_type: str = "application/json",
                   headers: dict[str, str] | None = None, **signing: Any) -> tuple[int, str]:
        all_headers = {**signed_headers(body, content_type=content_type, **signing), **(headers or {})}
        async with self.session.post(f"{self.url}/slack/events", data=body.encode(), headers=all_headers) as r:
            return r.status, await r.text()

    async def event(self, body: dict[str, Any], **kwargs: Any) -> tuple[int, str]:
        return await self.post(json.dumps(body), **kwargs)

    async def command(self, command: str, text: str, *, channel: str = "C1", user: str = "U1",
                      trigger_id: str | None = None) -> tuple[int, str]:
        form = payload("slash_command_ask")
        form.update(command=command, text=text, channel_id=channel, user_id=user,
                    trigger_id=trigger_id or self.next_trigger_id())
        return await self.post(urlencode(form), content_type="application/x-www-form-urlencoded")

    async def interaction(self, body: dict[str, Any]) -> tuple[int, str]:
        """Post an interaction payload, with a fresh trigger_id as Slack would give it."""
        body = {**body, "trigger_id": self.next_trigger_id()} if "trigger_id" in body else body
        return await self.post(urlencode({"payload": json.dumps(body)}),
                               content_type="application/x-www-form-urlencoded")

    async def seed_guide(self, channel: str = "C1") -> None:
        await self.teambot.knowledge.ingest(name="guide.md", data=DEPLOY_GUIDE,
                                            scope=Scope("slack", TEAM_ID, channel), uploader="U1")


def slack_settings(make_settings: Callable[..., Settings], fake: FakeSlack, openai: FakeOpenAI | None,
                   **overrides: Any) -> Settings:
    """Settings for the Slack adapter against `fake` (HTTP mode), the model on `openai` if given."""
    values: dict[str, Any] = dict(slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                                  slack_api_url=fake.api_url, http_host="127.0.0.1")
    if openai is not None:
        values.update(openai_base_url=openai.base_url, openai_api_key="sk-test", chat_model="fake-model",
                      model_max_retries=0)
    values.update(overrides)
    return make_settings(**values)


@asynccontextmanager
async def running_slack(settings: Settings, fake: FakeSlack, **adapter_options: Any) -> AsyncIterator[SlackHarness]:
    """A core and Slack adapter in HTTP mode for `settings`, served on a free loopback port
    (`adapter_options` go to `SlackAdapter`, e.g. `update_interval_s=0` to show every piece at once)."""
    async with Teambot(settings) as teambot:
        web_app = build_web_app(teambot)
        adapter = (SlackAdapter(teambot, web_app=web_app, **adapter_options) if adapter_options
                   else create_adapter(teambot, web_app=web_app))
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with adapter, aiohttp.ClientSession() as session:
                yield SlackHarness(fake, teambot, adapter, f"http://127.0.0.1:{port}", session)
        finally:
            await runner.cleanup()
