"""One claims service (`bot.claims`) for Slack and Discord: answer-once claims and thread ownership,
with one policy when Redis is down: answer anyway."""

from __future__ import annotations

from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from bot.app import Teambot
from bot.claims import Claims


class DownRedis:
    """Every call fails as a stopped Redis does."""

    def __getattr__(self, name: str) -> Any:
        async def fail(*args: Any, **kwargs: Any) -> Any:
            raise RedisConnectionError("Connection refused")

        return fail


async def test_claims_answer_anyway_when_redis_is_down(teambot: Teambot) -> None:
    claims = teambot.claims
    assert await claims.claim("slack", "event:E1", ttl_s=60) is True
    assert await claims.claim("slack", "event:E1", ttl_s=60) is False, "once claimed, a redelivery is skipped"
    await claims.remember_thread("discord", "42", ttl_s=60, parent="7")
    assert await claims.thread_parent("discord", "42") == "7"
    assert await teambot.redis.get("teambot:discord:thread:42") == b"7", "the keys the adapters used before"
    assert await claims.owns_thread("slack", "T1:C1:1.2") is False

    down = Claims(DownRedis())
    assert await down.claim("slack", "event:E1", ttl_s=60) is True, "answered, maybe twice, never silent"
    await down.remember_thread("slack", "T1:C1:1.2", ttl_s=60)  # logged, not raised
    assert await down.owns_thread("slack", "T1:C1:1.2") is False
