"""Attack: an API vote (`POST /api/v1/answers/{id}/feedback`) when Redis fails halfway.

The vote was claimed with HSETNX, then given its expiry and listed in the day's index in a second
round trip. When Redis failed in between, the client was told "can't be stored right now; try
again", but the vote stayed, with no expiry (kept for good, past the usage retention) and in no
index (never listed or reported); trying again answered 409 "already rated". The claim, its expiry
and the index are now one transaction: all of them or none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.core.values import IncomingMessage, Reply, Scope
from bot.feedback import RedisFeedback

WHERE = Scope("api", "W1", "ops")
MOMENT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


class FailsOnce:
    """Redis, except that the `nth` pipeline executed fails as a dropped connection would."""

    def __init__(self, client: aioredis.Redis, *, nth: int) -> None:
        self._client = client
        self._left = nth

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = self._client.pipeline(*args, **kwargs)
        self._left -= 1
        if self._left == 0:
            async def dropped(*_: Any, **__: Any) -> Any:
                raise RedisConnectionError("Connection reset by peer")
            pipe.execute = dropped
        return pipe


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.from_url(redis_url)
    yield redis
    await redis.aclose()


async def test_a_vote_redis_dropped_halfway_is_kept_whole_or_not_at_all(client: aioredis.Redis) -> None:
    kept = RedisFeedback(client, clock=lambda: MOMENT)
    message = IncomingMessage(platform="api", workspace="W1", channel="ops", thread="t1", user="ci",
                              text="What is the default port?")
    await kept.record_answer(message, Reply(text="8080.", answered=True, mode="extractive", answer_id="a1b2"))
    answer = await kept.answer_in(WHERE, "a1b2")
    assert answer is not None

    flaky = RedisFeedback(FailsOnce(client, nth=1), clock=lambda: MOMENT)  # type: ignore[arg-type]
    with pytest.raises(RedisConnectionError):
        await flaky.first_vote(answer, user="ci", helpful=False, reason="outdated")
    for key in await client.keys("teambot:feedback:*"):
        assert await client.ttl(key) > 0, f"{key!r} kept for good"

    # Trying again, as the client was told to, stores the vote; it is listed like any other.
    vote = await flaky.first_vote(answer, user="ci", helpful=False, reason="outdated")
    assert vote is not None and vote.reason == "outdated"
    assert [(v.answer.answer_id, v.helpful) for v in await kept.recent_votes(days=1)] == [("a1b2", False)]
    assert await kept.first_vote(answer, user="ci", helpful=True) is None, "still one vote per person"
