"""Fixtures: the core plus the real discord.py client connected to the loopback fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from bot.settings import Settings
from tests.support.discord_bot import DiscordHarness, RunDiscord
from tests.support.fake_discord import GUILD_ID
from tests.support.openai_server import FakeOpenAI


@pytest.fixture
async def discord_bot(make_settings: Callable[..., Settings], run_discord: RunDiscord) -> AsyncIterator[DiscordHarness]:
    """Extractive mode (no model)."""
    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID))
    async with run_discord(settings) as env:
        yield env


@pytest.fixture
async def discord_bot_without_content(make_settings: Callable[..., Settings],
                                      run_discord: RunDiscord) -> AsyncIterator[DiscordHarness]:
    """Extractive mode, without the privileged message content intent (`DISCORD_MESSAGE_CONTENT=false`)."""
    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID),
                             discord_message_content=False)
    async with run_discord(settings) as env:
        yield env


@pytest.fixture
async def discord_bot_llm(make_settings: Callable[..., Settings], openai_server: FakeOpenAI,
                          run_discord: RunDiscord) -> AsyncIterator[DiscordHarness]:
    """The model is the loopback OpenAI server."""
    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID),
                             openai_base_url=openai_server.base_url, openai_api_key="sk-test",
                             chat_model="fake-model", model_max_retries=0)
    async with run_discord(settings) as env:
        yield env
