"""Open the usage counters without starting the whole core (for `teambot stats`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from bot.redis_server import EmbeddedRedis
from bot.settings import Settings, prepare_data_dir
from bot.usage import RedisUsage


@asynccontextmanager
async def open_usage(settings: Settings) -> AsyncIterator[RedisUsage]:
    """`REDIS_URL`, or the embedded redis-server under the data directory, as `Teambot` would use."""
    embedded_redis = None
    if settings.redis_url is None:
        embedded_redis = EmbeddedRedis(prepare_data_dir(settings) / "redis",
                                       ready_timeout_s=settings.redis_start_timeout_s)
    async with embedded_redis if embedded_redis is not None else _nothing() as embedded:
        url = settings.redis_url or embedded.url
        client = aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        try:
            yield RedisUsage.from_settings(client, settings)
        finally:
            await client.aclose()


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield None
