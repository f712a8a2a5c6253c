"""Idempotency claims and thread ownership, in Redis, for every chat platform.

Keys are `teambot:<platform>:<key>`: `claim("slack", "event:Ev1", ttl_s=...)` is
`teambot:slack:event:Ev1`, the keys the adapters used before this service, so a
running deployment keeps what it remembered.

One policy for Redis failures, the safer one for users: when Redis cannot be reached,
a claim is granted (the message is answered, maybe twice if the platform redelivers it,
rather than never), remembering a thread is skipped with a warning, and a thread is not
known to be ours (a follow-up without a mention then waits for a mention, as in a thread
the bot never saw).
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PREFIX = "teambot:"
REDIS_FAILURES = (RedisError, OSError)
"""What a Redis outage raises (connection refused or reset, timeouts, a full pool)."""


class Claims:
    """`claim` answers once per key; `remember_thread` / `owns_thread` track the bot's threads."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis

    @staticmethod
    def _key(platform: str, key: str) -> str:
        return f"{PREFIX}{platform}:{key}"

    async def claim(self, platform: str, key: str, *, ttl_s: int) -> bool:
        """True the first time `key` is claimed within `ttl_s` (and whenever Redis is down)."""
        try:
            return bool(await self._redis.set(self._key(platform, key), "1", nx=True, ex=ttl_s))
        except REDIS_FAILURES as exc:
            # Without Redis we cannot dedupe; answering (maybe twice) beats going silent.
            log.warning("dedupe unavailable", extra={"platform": platform, "error": type(exc).__name__})
            return True

    async def remember_thread(self, platform: str, thread: str, *, ttl_s: int, parent: str = "1") -> None:
        """Remember for `ttl_s` that the bot answers in `thread` (with its parent channel, if useful)."""
        try:
            await self._redis.set(self._key(platform, f"thread:{thread}"), parent, ex=ttl_s)
        except REDIS_FAILURES as exc:
            log.warning("could not remember the thread", extra={"platform": platform, "error": type(exc).__name__})

    async def thread_parent(self, platform: str, thread: str) -> str | None:
        """What `remember_thread` stored for `thread`, or None (not ours, forgotten, or Redis down)."""
        try:
            value = await self._redis.get(self._key(platform, f"thread:{thread}"))
        except REDIS_FAILURES as exc:
            log.warning("could not look up the thread", extra={"platform": platform, "error": type(exc).__name__})
            return None
        return value.decode() if isinstance(value, bytes) else value

    async def owns_thread(self, platform: str, thread: str) -> bool:
        return await self.thread_parent(platform, thread) is not None
