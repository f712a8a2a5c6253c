"""Shared fixtures: a real redis-server, the loopback OpenAI server, settings, a running core, and the
Slack and Discord harnesses.

Helpers that test modules import by name live in `tests/support`; test modules never import each other
or a conftest (`tests/test_layers.py` checks).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.app import Teambot
from bot.redis_server import EmbeddedRedis
from bot.settings import Settings, load_settings
from tests.support.discord_bot import RunDiscord, running_discord
from tests.support.fake_slack import FakeSlack
from tests.support.openai_server import FakeOpenAI
from tests.support.slack_bot import SlackHarness, running_slack, slack_settings


@pytest.fixture(scope="session")
async def redis_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedRedis]:
    """One real redis-server process for the whole run (no persistence)."""
    async with EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False) as server:
        yield server


@pytest.fixture
async def redis_url(redis_server: EmbeddedRedis) -> AsyncIterator[str]:
    """The shared server, emptied before each test."""
    client = aioredis.from_url(redis_server.url)
    await client.flushall()
    await client.aclose()
    yield redis_server.url


@pytest.fixture
async def openai_server() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
def make_settings(tmp_path: Path, redis_url: str) -> Callable[..., Settings]:
    """Settings isolated from the developer's environment and .env, pointing at test servers."""

    def build(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "data_dir": tmp_path / "data",
            "redis_url": redis_url,
            "openai_api_key": None,
            "openai_base_url": None,
            "embedding_model": None,
            "chroma_host": None,
            "_env_file": None,
        }
        values.update(overrides)
        return load_settings(**values)

    return build


@pytest.fixture
async def teambot(make_settings: Callable[..., Settings]) -> AsyncIterator[Teambot]:
    """A running core in extractive mode (no model), with real Redis and Chroma."""
    async with Teambot(make_settings()) as bot:
        yield bot


@pytest.fixture
async def teambot_llm(make_settings: Callable[..., Settings], openai_server: FakeOpenAI) -> AsyncIterator[Teambot]:
    """A running core whose model is the loopback OpenAI server."""
    settings = make_settings(openai_base_url=openai_server.base_url, openai_api_key="sk-test",
                             chat_model="fake-model", model_max_retries=0)
    async with Teambot(settings) as bot:
        yield bot


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def slack(make_settings: Callable[..., Settings], fake_slack: FakeSlack,
                openai_server: FakeOpenAI) -> AsyncIterator[SlackHarness]:
    """HTTP mode: the adapter's `/slack/events` on the shared web app, the model on the loopback server."""
    async with running_slack(slack_settings(make_settings, fake_slack, openai_server), fake_slack) as harness:
        yield harness


@pytest.fixture
def run_discord(monkeypatch: pytest.MonkeyPatch) -> RunDiscord:
    """`async with run_discord(settings) as env:` a core and the discord.py client connected to a loopback fake.

    discord.py keeps its endpoints in class attributes, so each run points them at its fake through this
    test's monkeypatch; they are discord.py's own again once the test ends.
    """
    return functools.partial(running_discord, monkeypatch=monkeypatch)
