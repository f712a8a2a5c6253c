"""Thread history: one Redis list per conversation, bounded and expiring."""

from __future__ import annotations

import json
from dataclasses import asdict

import redis.asyncio as aioredis

from bot.core.values import Turn


class RedisHistory:
    """History in plain Redis lists: `teambot:history:<conversation key>`."""

    def __init__(self, client: aioredis.Redis, *, max_turns: int, ttl_s: int) -> None:
        self._client = client
        self._max_turns = max_turns
        self._ttl_s = ttl_s

    @staticmethod
    def _key(conversation_key: str) -> str:
        return f"teambot:history:{conversation_key}"

    async def load(self, conversation_key: str) -> list[Turn]:
        raw = await self._client.lrange(self._key(conversation_key), -self._max_turns, -1)
        turns = []
        for item in raw:
            try:
                turns.append(Turn(**json.loads(item)))
            except (ValueError, TypeError):
                continue  # a malformed entry must not break the whole thread
        return turns

    async def append(self, conversation_key: str, turn: Turn) -> None:
        key = self._key(conversation_key)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(asdict(turn), ensure_ascii=False))
            pipe.ltrim(key, -self._max_turns, -1)
            pipe.expire(key, self._ttl_s)
            await pipe.execute()

    async def clear(self, conversation_key: str) -> None:
        await self._client.delete(self._key(conversation_key))
