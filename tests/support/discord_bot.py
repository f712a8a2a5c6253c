"""The Discord harness: a core and the real discord.py client connected to the loopback fake Discord.

discord.py has no per-client endpoints: every REST call goes to the class attribute
`discord.http.Route.BASE` and the gateway opens at `DiscordWebSocket.DEFAULT_GATEWAY`. The adapter
leaves both alone; `point_discord_py_at` sets them for a test (through the test's `monkeypatch`, which
puts discord.py's own back when the test ends), and the `run_discord` fixture does it for each fake
it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import pytest
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord import DiscordAdapter, create_adapter
from bot.app import Teambot
from bot.settings import Settings
from tests.support.documents import DEPLOY_GUIDE
from tests.support.fake_discord import BOT_ID, FakeDiscord

MENTION = f"<@{BOT_ID}>"
"""A message text that mentions the bot."""


@dataclass
class DiscordHarness:
    """The fake Discord, the adapter connected to it, and the core behind the adapter."""

    discord: FakeDiscord
    adapter: DiscordAdapter
    teambot: Teambot


def point_discord_py_at(fake: FakeDiscord, *, monkeypatch: pytest.MonkeyPatch) -> None:
    """Send discord.py's REST calls and gateway connection to `fake` (started) until `monkeypatch` undoes it."""
    monkeypatch.setattr(Route, "BASE", fake.api_base)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))


@contextlib.asynccontextmanager
async def running_discord(settings: Settings, *, monkeypatch: pytest.MonkeyPatch, fake: FakeDiscord | None = None,
                          ) -> AsyncIterator[DiscordHarness]:
    """Core, fake Discord (`fake`, or a plain one), adapter started (logged in, commands synced) and connected."""
    async with Teambot(settings) as teambot, (fake or FakeDiscord()) as discord:
        point_discord_py_at(discord, monkeypatch=monkeypatch)
        adapter = create_adapter(teambot, web_app=None)
        async with adapter:
            task = asyncio.create_task(adapter.run())
            try:
                await discord.connected()
                yield DiscordHarness(discord, adapter, teambot)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


class RunDiscord(Protocol):
    """What the `run_discord` fixture gives: `running_discord` with the test's monkeypatch already passed."""

    def __call__(self, settings: Settings, *, fake: FakeDiscord | None = None,
                 ) -> contextlib.AbstractAsyncContextManager[DiscordHarness]: ...


async def upload_in_channel(env: DiscordHarness, name: str = "guide.md", data: bytes = DEPLOY_GUIDE) -> None:
    """Upload through a mention with an attachment and wait for the per-file report."""
    discord = env.discord
    attachment = discord.attachment(name, data)
    earlier = set(discord.thread_ids())  # an earlier upload's report is not this one's
    await discord.message(MENTION, mention_bot=True, attachments=[attachment])
    await discord.wait_for(lambda: any("✓" in c or "✗" in c for t in discord.thread_ids() if t not in earlier
                                       for c in discord.contents(t)))
