"""Open the usage data without starting the whole core (for `teambot stats` and `teambot feedback`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.feedback import RedisFeedback
from bot.redis_server import EmbeddedRedis
from bot.settings import Settings, prepare_data_dir
from bot.usage import RedisUsage


@dataclass(frozen=True, slots=True)
class UsageData:
    """The usage counters, and the answers kept for feedback with the votes on them."""

    usage: RedisUsage
    feedback: RedisFeedback


@asynccontextmanager
async def open_usage(settings: Settings) -> AsyncIterator[UsageData]:
    """The usage data, as `Teambot` keeps it: `REDIS_URL`, or the embedded redis-server under the data directory."""
    async with AsyncExitStack() as stack:
        url = settings.redis_url
        if url is None:
            embedded = await stack.enter_async_context(EmbeddedRedis(
                prepare_data_dir(settings) / "redis", ready_timeout_s=settings.redis_start_timeout_s))
            url = embedded.url
        client = aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        try:
            yield UsageData(RedisUsage.from_settings(client, settings), RedisFeedback.from_settings(client, settings))
        finally:
            await client.aclose()
