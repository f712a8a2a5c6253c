"""Usage counters in Redis, in day buckets, for the usage reports."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone, tzinfo
from typing import TYPE_CHECKING, Callable, Iterable, Protocol
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

if TYPE_CHECKING:
    from bot.settings import Settings

LATENCY_SAMPLES_PER_DAY = 20000
"""Latencies kept per day for the percentiles; beyond that the oldest are dropped."""
GAPS_PER_DAY = 200
"""Unanswered questions kept per day (the report shows a few)."""


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
    tokens_estimated: bool = False
    """The server reported no usage: the token counts are teambot's estimate."""


class UsageRecorder(Protocol):
    async def record_question(self, record: QuestionRecord) -> None: ...

    async def record_upload(self, *, platform: str, channel: str, documents: int, chunks: int, failures: int,
                            at: datetime | None = None) -> None: ...

    async def record_feedback(self, *, platform: str, helpful: bool, at: datetime | None = None) -> None: ...


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _day(at: datetime | None, tz: tzinfo = timezone.utc) -> str:
    return (at or _utc_now()).astimezone(tz).strftime("%Y-%m-%d")


@dataclass(slots=True)
class DayUsage:
    """Everything recorded on one day (in the report time zone), read back for a report."""

    day: date
    totals: dict[str, float] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    cited: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[tuple[float | None, float]] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)

    def total(self, name: str) -> float:
        return self.totals.get(name, 0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def pseudonym(platform: str, user: str) -> str:
    """Users are counted, not stored in clear."""
    return hashlib.blake2b(f"{platform}:{user}".encode(), digest_size=8).hexdigest()


class RedisUsage:
    """Counters per day under `teambot:usage:<day>:*`, expiring after the retention period.

    Days are calendar days in the report time zone (`REPORT_TIMEZONE`), so a
    report's day, week or month is made of whole buckets. With prices per 1000
    tokens the estimated cost is added as each question is recorded, at the
    price of that moment.
    """

    def __init__(self, client: aioredis.Redis, *, retention_days: int = 400, tz: tzinfo = timezone.utc,
                 price_per_1k_input: float | None = None, price_per_1k_output: float | None = None,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self._client = client
        self._ttl_s = retention_days * 86400
        self.tz = tz
        self._price_in = price_per_1k_input
        self._price_out = price_per_1k_output
        self._clock = clock

    @classmethod
    def from_settings(cls, client: aioredis.Redis, settings: "Settings", *,
                      clock: Callable[[], datetime] = _utc_now) -> "RedisUsage":
        """Retention, time zone and prices as configured."""
        return cls(client, retention_days=settings.usage_retention_days, tz=ZoneInfo(settings.report_timezone),
                   price_per_1k_input=settings.price_per_1k_input,
                   price_per_1k_output=settings.price_per_1k_output, clock=clock)

    @property
    def priced(self) -> bool:
        """True when a price per token is configured (costs are estimated)."""
        return self._price_in is not None or self._price_out is not None

    def _bucket(self, at: datetime | None) -> str:
        return _day(at or self._clock(), self.tz)

    async def record_question(self, record: QuestionRecord) -> None:
        day = self._bucket(record.at)
        prefix = f"teambot:usage:{day}"
        outcome = "errors" if record.error_kind else ("answered" if record.answered else "unanswered")
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hincrby(f"{prefix}:totals", "questions", 1)
            pipe.hincrby(f"{prefix}:totals", outcome, 1)
            pipe.hincrby(f"{prefix}:totals", "input_tokens", record.input_tokens)
            pipe.hincrby(f"{prefix}:totals", "output_tokens", record.output_tokens)
            if self.priced:
                cost = (record.input_tokens * (self._price_in or 0) + record.output_tokens * (self._price_out or 0))
                pipe.hincrbyfloat(f"{prefix}:totals", "cost", cost / 1000)
            if record.tokens_estimated:  # the server reported no usage: these counts are teambot's estimate
                pipe.hincrby(f"{prefix}:totals", "tokens_estimated", 1)
            if record.error_kind:
                pipe.hincrby(f"{prefix}:errors", record.error_kind, 1)
            pipe.pfadd(f"{prefix}:users", pseudonym(record.platform, record.user))
            pipe.hincrby(f"{prefix}:channels", f"{record.platform}:{record.workspace}:{record.channel}", 1)
            for source in record.cited_sources:
                pipe.hincrby(f"{prefix}:cited", source, 1)
            pipe.rpush(f"{prefix}:latency", json.dumps([record.first_token_s, record.total_s]))
            pipe.ltrim(f"{prefix}:latency", -LATENCY_SAMPLES_PER_DAY, -1)
            if not record.answered and not record.error_kind:
                pipe.rpush(f"{prefix}:gaps", record.question[:300])
                pipe.ltrim(f"{prefix}:gaps", -GAPS_PER_DAY, -1)
            for suffix in ("totals", "errors", "users", "channels", "cited", "latency", "gaps"):
                pipe.expire(f"{prefix}:{suffix}", self._ttl_s)
            await pipe.execute()

    async def record_upload(self, *, platform: str, channel: str, documents: int, chunks: int, failures: int,
                            at: datetime | None = None) -> None:
        key = f"teambot:usage:{self._bucket(at)}:totals"
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, "uploads", 1)
            pipe.hincrby(key, "uploaded_documents", documents)
            pipe.hincrby(key, "uploaded_chunks", chunks)
            pipe.hincrby(key, "upload_failures", failures)
            pipe.expire(key, self._ttl_s)
            await pipe.execute()

    async def record_feedback(self, *, platform: str, helpful: bool, at: datetime | None = None) -> None:
        key = f"teambot:usage:{self._bucket(at)}:totals"
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, "helpful" if helpful else "not_helpful", 1)
            pipe.expire(key, self._ttl_s)
            await pipe.execute()

    async def day_totals(self, day: str) -> dict[str, int]:
        raw = await self._client.hgetall(f"teambot:usage:{day}:totals")
        return {_text(k): int(float(v)) for k, v in raw.items()}

    # --- reading, for the reports -------------------------------------------------------------

    async def read_days(self, days: Iterable[date]) -> list[DayUsage]:
        """Every bucket of `days`, in order; a day without data comes back empty."""
        wanted = list(days)
        async with self._client.pipeline(transaction=False) as pipe:
            for day in wanted:
                prefix = f"teambot:usage:{day.isoformat()}"
                pipe.hgetall(f"{prefix}:totals")
                pipe.hgetall(f"{prefix}:channels")
                pipe.hgetall(f"{prefix}:cited")
                pipe.hgetall(f"{prefix}:errors")
                pipe.lrange(f"{prefix}:latency", 0, -1)
                pipe.lrange(f"{prefix}:gaps", 0, -1)
            raw = await pipe.execute()
        result: list[DayUsage] = []
        for index, day in enumerate(wanted):
            totals, channels, cited, errors, latency, gaps = raw[index * 6:(index + 1) * 6]
            result.append(DayUsage(
                day=day,
                totals={_text(k): float(v) for k, v in totals.items()},
                channels={_text(k): int(v) for k, v in channels.items()},
                cited={_text(k): int(v) for k, v in cited.items()},
                errors={_text(k): int(v) for k, v in errors.items()},
                latencies=[tuple(json.loads(item)) for item in latency],  # type: ignore[misc]
                gaps=[_text(g) for g in gaps],
            ))
        return result

    async def distinct_users(self, days: Iterable[date]) -> int:
        """Distinct (pseudonymous) askers over several days: the union of the days' HyperLogLogs."""
        keys = [f"teambot:usage:{day.isoformat()}:users" for day in days]
        return int(await self._client.pfcount(*keys)) if keys else 0
