"""Thread history in a real Redis: bounded, expiring, one key per conversation."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.history import RedisHistory, Turn


async def test_history_is_bounded_and_expires(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    history = RedisHistory(client, max_turns=3, ttl_s=600)
    for i in range(5):
        await history.append("slack:T1:C1:123.4", Turn(f"q{i}", f"a{i}", float(i)))

    assert [t.question for t in await history.load("slack:T1:C1:123.4")] == ["q2", "q3", "q4"]
    assert 0 < await client.ttl("teambot:history:slack:T1:C1:123.4") <= 600
    assert await history.load("slack:T1:C1:other") == []

    await history.clear("slack:T1:C1:123.4")
    assert await history.load("slack:T1:C1:123.4") == []
    await client.aclose()


async def test_a_corrupt_entry_does_not_break_the_thread(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    history = RedisHistory(client, max_turns=10, ttl_s=600)
    await history.append("k", Turn("q", "a", 1.0))
    await client.rpush("teambot:history:k", b"not json")
    assert [t.question for t in await history.load("k")] == ["q"]
    await client.aclose()
