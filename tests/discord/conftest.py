"""Fixtures: the core plus the real discord.py client connected to the loopback fake Discord."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from adapters.discord import DiscordAdapter, create_adapter
from bot.app import Teambot
from bot.settings import Settings
from tests.discord.fake_discord import GUILD_ID, FakeDiscord
from tests.support.openai_server import FakeOpenAI


@dataclass
class Running:
    discord: FakeDiscord
    adapter: DiscordAdapter
    teambot: Teambot


@contextlib.asynccontextmanager
async def running_discord(settings: Settings) -> AsyncIterator[Running]:
    """Core, fake Discord, adapter started (logged in, commands synced) and connected to the gateway."""
    async with Teambot(settings) as teambot, FakeDiscord() as discord:
        adapter = create_adapter(teambot, web_app=None, api_base=discord.api_base, gateway_url=discord.gateway_url)
        async with adapter:
            task = asyncio.create_task(adapter.run())
            try:
                await discord.connected()
                yield Running(discord, adapter, teambot)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


@pytest.fixture
async def discord_bot(make_settings: Callable[..., Settings]) -> AsyncIterator[Running]:
    """Extractive mode (no model)."""
    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID))
    async with running_discord(settings) as env:
        yield env


@pytest.fixture
async def discord_bot_llm(make_settings: Callable[..., Settings], openai_server: FakeOpenAI) -> AsyncIterator[Running]:
    """The model is the loopback OpenAI server."""
    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID),
                             openai_base_url=openai_server.base_url, openai_api_key="sk-test",
                             chat_model="fake-model", model_max_retries=0)
    async with running_discord(settings) as env:
        yield env
