"""Usage counters in Redis, in day buckets, for the usage reports."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

import redis.asyncio as aioredis


@dataclass(frozen=True, slots=True)
class QuestionRecord:
    """One answered (or failed) question, as the reports need it."""

    platform: str
    workspace: str
    channel: str
    user: str
    question: str
    answered: bool
    mode: str
    first_token_s: float | None
    total_s: float
    input_tokens: int = 0
    output_tokens: int = 0
    cited_sources: tuple[str, ...] = ()
    error_kind: str | None = None
    at: datetime | None = None


class UsageRecorder(Protocol):
    async def record_question(self, record: QuestionRecord) -> None: ...

    async def record_upload(self, *, platform: str, channel: str, documents: int, chunks: int, failures: int,
                            at: datetime | None = None) -> None: ...

    async def record_feedback(self, *, platform: str, helpful: bool, at: datetime | None = None) -> None: ...


def _day(at: datetime | None) -> str:
    return (at or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%d")


def pseudonym(platform: str, user: str) -> str:
    """Users are counted, not stored in clear."""
    return hashlib.blake2b(f"{platform}:{user}".encode(), digest_size=8).hexdigest()


class RedisUsage:
    """Counters per UTC day under `teambot:usage:<day>:*`, expiring after the retention period."""

    def __init__(self, client: aioredis.Redis, *, retention_days: int = 400) -> None:
        self._client = client
        self._ttl_s = retention_days * 86400

    async def record_question(self, record: QuestionRecord) -> None:
        day = _day(record.at)
        prefix = f"teambot:usage:{day}"
        outcome = "errors" if record.error_kind else ("answered" if record.answered else "unanswered")
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hincrby(f"{prefix}:totals", "questions", 1)
            pipe.hincrby(f"{prefix}:totals", outcome, 1)
            pipe.hincrby(f"{prefix}:totals", "input_tokens", record.input_tokens)
            pipe.hincrby(f"{prefix}:totals", "output_tokens", record.output_tokens)
            if record.error_kind:
                pipe.hincrby(f"{prefix}:errors", record.error_kind, 1)
            pipe.pfadd(f"{prefix}:users", pseudonym(record.platform, record.user))
            pipe.hincrby(f"{prefix}:channels", f"{record.platform}:{record.workspace}:{record.channel}", 1)
            for source in record.cited_sources:
                pipe.hincrby(f"{prefix}:cited", source, 1)
            pipe.rpush(f"{prefix}:latency", json.dumps([record.first_token_s, record.total_s]))
            if not record.answered and not record.error_kind:
                pipe.rpush(f"{prefix}:gaps", record.question[:300])
            for suffix in ("totals", "errors", "users", "channels", "cited", "latency", "gaps"):
                pipe.expire(f"{prefix}:{suffix}", self._ttl_s)
            await pipe.execute()

    async def record_upload(self, *, platform: str, channel: str, documents: int, chunks: int, failures: int,
                            at: datetime | None = None) -> None:
        key = f"teambot:usage:{_day(at)}:totals"
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, "uploaded_documents", documents)
            pipe.hincrby(key, "uploaded_chunks", chunks)
            pipe.hincrby(key, "upload_failures", failures)
            pipe.expire(key, self._ttl_s)
            await pipe.execute()

    async def record_feedback(self, *, platform: str, helpful: bool, at: datetime | None = None) -> None:
        key = f"teambot:usage:{_day(at)}:totals"
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, "helpful" if helpful else "not_helpful", 1)
            pipe.expire(key, self._ttl_s)
            await pipe.execute()

    async def day_totals(self, day: str) -> dict[str, int]:
        raw = await self._client.hgetall(f"teambot:usage:{day}:totals")
        return {k.decode() if isinstance(k, bytes) else k: int(v) for k, v in raw.items()}
