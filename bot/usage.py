"""Usage counters in Redis, in day buckets, for the usage reports."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from bot.core.values import QuestionRecord, Visibility

if TYPE_CHECKING:
    from bot.settings import Settings

LATENCY_SAMPLES_PER_DAY = 20000
"""Latencies kept per day for the percentiles; beyond that the oldest are dropped."""
GAPS_PER_DAY = 200
"""Unanswered questions kept per day (the report shows a few)."""
SCOPE_LATENCY_SAMPLES_PER_DAY = 500
"""Latencies kept per channel and day (each channel's own bucket; the all-channels list keeps more)."""
SCOPE_GAPS_PER_DAY = 20
"""Unanswered questions kept per channel and day."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _day(at: datetime | None, tz: tzinfo = UTC) -> str:
    return (at or _utc_now()).astimezone(tz).strftime("%Y-%m-%d")


@dataclass(slots=True, kw_only=True)
class DayFigures:
    """What one day's buckets hold, for every channel or for one: counts, citations, errors,
    latencies and unanswered questions."""

    totals: dict[str, float] = field(default_factory=dict)
    cited: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[tuple[float | None, float]] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)

    def total(self, name: str) -> float:
        return self.totals.get(name, 0)


def _decoded_figures(totals: dict[Any, Any], cited: dict[Any, Any], errors: dict[Any, Any], latency: list[Any],
                     gaps: list[Any]) -> dict[str, Any]:
    """`DayFigures` fields from the raw Redis replies (malformed entries dropped, never a crash)."""
    return {
        "totals": {_text(k): _number(v) for k, v in totals.items()},
        "cited": {_text(k): int(_number(v)) for k, v in cited.items()},
        "errors": {_text(k): int(_number(v)) for k, v in errors.items()},
        "latencies": [pair for item in latency if (pair := _latency(item)) is not None],
        "gaps": [_text(g) for g in gaps],
    }


@dataclass(slots=True, kw_only=True)
class DayUsage(DayFigures):
    """Everything recorded on one day (in the report time zone), read back for a report."""

    day: date
    channels: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UsageScope:
    """Where questions were asked, as a usage bucket knows it: one channel and who can read it there."""

    platform: str
    workspace: str
    channel: str
    visibility: Visibility = "unknown"

    @property
    def field(self) -> str:
        """Its name in a day's scope registry (JSON: ids may contain any character)."""
        return json.dumps([self.platform, self.workspace, self.channel, self.visibility])

    @classmethod
    def from_field(cls, raw: bytes | str) -> UsageScope | None:
        """The scope a registry field names; None for anything malformed (never crash a report)."""
        try:
            platform, workspace, channel, visibility = json.loads(_text(raw))
        except (ValueError, TypeError):
            return None
        if not all(isinstance(part, str) for part in (platform, workspace, channel, visibility)):
            return None
        if visibility not in ("public", "private", "private_thread"):
            visibility = "unknown"
        return cls(platform, workspace, channel, visibility)

    @property
    def digest(self) -> str:
        """Short stable id used in the Redis key names of this scope's buckets."""
        return hashlib.blake2b(self.field.encode(), digest_size=10).hexdigest()


def workspace_digest(platform: str, workspace: str) -> str:
    """Short stable id of a workspace in key names (ids may contain any character)."""
    return hashlib.blake2b(json.dumps([platform, workspace]).encode(), digest_size=10).hexdigest()


@dataclass(slots=True, kw_only=True)
class ScopeDayUsage(DayFigures):
    """One channel's (scope's) figures on one day."""

    scope: UsageScope
    users_key: str = ""
    """The Redis HyperLogLog of this scope's askers on that day (for distinct counts over a selection)."""


@dataclass(slots=True)
class WorkspaceDay:
    """One workspace's scoped figures on one day: its channels, plus uploads and feedback counted per workspace.

    Days stored before usage was recorded per channel have no scoped figures: they read back empty.
    """

    day: date
    scopes: list[ScopeDayUsage] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)

    def total(self, name: str) -> float:
        return self.totals.get(name, 0)


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _number(value: bytes | str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _latency(item: bytes | str) -> tuple[float | None, float] | None:
    """A stored `[first_token_s, total_s]` pair; None when malformed."""
    try:
        first, whole = json.loads(item)
        return (None if first is None else float(first)), float(whole)
    except (TypeError, ValueError):
        return None


def pseudonym(platform: str, user: str) -> str:
    """Users are counted, not stored in clear."""
    return hashlib.blake2b(f"{platform}:{user}".encode(), digest_size=8).hexdigest()


class RedisUsage:
    """Counters per day under `teambot:usage:<day>:*`, expiring after the retention period.

    Each question is counted twice: in the day's all-scopes buckets (what `teambot stats` reads)
    and in its channel's own buckets (`...:scope:<id>:*`, listed in the day's `scopes` hash with
    the channel's visibility), so a report for one audience reads only the scopes it may.

    Days are calendar days in the report time zone (`REPORT_TIMEZONE`), so a
    report's day, week or month is made of whole buckets. With prices per 1000
    tokens the estimated cost is added as each question is recorded, at the
    price of that moment.
    """

    def __init__(self, client: aioredis.Redis, *, retention_days: int = 400, tz: tzinfo = UTC,
                 price_per_1k_input: float | None = None, price_per_1k_output: float | None = None,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self._client = client
        self._ttl_s = retention_days * 86400
        self.tz = tz
        self._price_in = price_per_1k_input
        self._price_out = price_per_1k_output
        self._clock = clock

    @classmethod
    def from_settings(cls, client: aioredis.Redis, settings: Settings, *,
                      clock: Callable[[], datetime] = _utc_now) -> RedisUsage:
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
            self._count_question(pipe, prefix, record, outcome,
                                 latency_samples=LATENCY_SAMPLES_PER_DAY, gaps=GAPS_PER_DAY)
            # Which channels asked, day-wide (the scope buckets below keep each channel's own figures).
            pipe.hincrby(f"{prefix}:channels", f"{record.platform}:{record.workspace}:{record.channel}", 1)
            pipe.expire(f"{prefix}:channels", self._ttl_s)
            self._record_in_scope(pipe, prefix, record, outcome)
            await pipe.execute()

    def _count_question(self, pipe: Any, base: str, record: QuestionRecord, outcome: str, *,
                        latency_samples: int, gaps: int) -> None:
        """Add one question to the bucket under `base`: totals, errors, users, cited sources, latency
        and, when it went unanswered, the question itself (lists capped at the given lengths)."""
        pipe.hincrby(f"{base}:totals", "questions", 1)
        pipe.hincrby(f"{base}:totals", outcome, 1)
        pipe.hincrby(f"{base}:totals", "input_tokens", record.input_tokens)
        pipe.hincrby(f"{base}:totals", "output_tokens", record.output_tokens)
        if self.priced:
            cost = (record.input_tokens * (self._price_in or 0) + record.output_tokens * (self._price_out or 0))
            pipe.hincrbyfloat(f"{base}:totals", "cost", cost / 1000)
        if record.tokens_estimated:  # the server reported no usage: these counts are teambot's estimate
            pipe.hincrby(f"{base}:totals", "tokens_estimated", 1)
        if record.error_kind:
            pipe.hincrby(f"{base}:errors", record.error_kind, 1)
        pipe.pfadd(f"{base}:users", pseudonym(record.platform, record.user))
        for source in record.cited_sources:
            pipe.hincrby(f"{base}:cited", source, 1)
        pipe.rpush(f"{base}:latency", json.dumps([record.first_token_s, record.total_s]))
        pipe.ltrim(f"{base}:latency", -latency_samples, -1)
        if not record.answered and not record.error_kind:
            pipe.rpush(f"{base}:gaps", record.question[:300])
            pipe.ltrim(f"{base}:gaps", -gaps, -1)
        for suffix in ("totals", "errors", "users", "cited", "latency", "gaps"):
            pipe.expire(f"{base}:{suffix}", self._ttl_s)

    def _record_in_scope(self, pipe: Any, prefix: str, record: QuestionRecord, outcome: str) -> None:
        """The same question again in its channel's own buckets, so a report can keep each scope to itself.

        The day's `scopes` hash lists the channels (with who can read them) that have buckets that day.
        """
        scope = UsageScope(record.platform, record.workspace, record.channel, record.visibility)
        pipe.hincrby(f"{prefix}:scopes", scope.field, 1)
        pipe.expire(f"{prefix}:scopes", self._ttl_s)
        self._count_question(pipe, f"{prefix}:scope:{scope.digest}", record, outcome,
                             latency_samples=SCOPE_LATENCY_SAMPLES_PER_DAY, gaps=SCOPE_GAPS_PER_DAY)

    def _keys_of(self, day: str, platform: str, workspace: str | None) -> list[str]:
        """The all-scopes totals, plus the workspace's own when it is known (counts only: no names)."""
        keys = [f"teambot:usage:{day}:totals"]
        if workspace is not None:
            keys.append(f"teambot:usage:{day}:workspace:{workspace_digest(platform, workspace)}:totals")
        return keys

    async def record_upload(self, *, platform: str, channel: str, documents: int, chunks: int, failures: int,
                            at: datetime | None = None, workspace: str | None = None) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for key in self._keys_of(self._bucket(at), platform, workspace):
                pipe.hincrby(key, "uploads", 1)
                pipe.hincrby(key, "uploaded_documents", documents)
                pipe.hincrby(key, "uploaded_chunks", chunks)
                pipe.hincrby(key, "upload_failures", failures)
                pipe.expire(key, self._ttl_s)
            await pipe.execute()

    async def record_feedback(self, *, platform: str, helpful: bool, at: datetime | None = None,
                              workspace: str | None = None) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for key in self._keys_of(self._bucket(at), platform, workspace):
                pipe.hincrby(key, "helpful" if helpful else "not_helpful", 1)
                pipe.expire(key, self._ttl_s)
            await pipe.execute()

    async def day_totals(self, day: str) -> dict[str, int]:
        raw = await self._client.hgetall(f"teambot:usage:{day}:totals")
        return {_text(k): int(_number(v)) for k, v in raw.items()}

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
                day=day, channels={_text(k): int(_number(v)) for k, v in channels.items()},
                **_decoded_figures(totals, cited, errors, latency, gaps),
            ))
        return result

    async def read_workspace_days(self, days: Iterable[date], *, platform: str, workspace: str,
                                  channel: str | None = None) -> list[WorkspaceDay]:
        """The per-channel buckets of one workspace for each of `days` (only `channel`'s when given).

        Nothing of another workspace or platform is read. Days recorded before usage was kept per
        channel (the old format) come back without scopes.
        """
        wanted = list(days)
        async with self._client.pipeline(transaction=False) as pipe:
            for day in wanted:
                pipe.hgetall(f"teambot:usage:{day.isoformat()}:scopes")
                pipe.hgetall(f"teambot:usage:{day.isoformat()}:workspace:{workspace_digest(platform, workspace)}"
                             ":totals")
            registries = await pipe.execute()
        selected: list[tuple[int, UsageScope]] = []
        result = [WorkspaceDay(day=day) for day in wanted]
        for index in range(len(wanted)):
            registry, workspace_totals = registries[index * 2], registries[index * 2 + 1]
            if channel is None:  # uploads and feedback are known per workspace, not per channel
                result[index].totals = {_text(k): _number(v) for k, v in workspace_totals.items()}
            for raw in registry:
                scope = UsageScope.from_field(raw)
                if scope is None or (scope.platform, scope.workspace) != (platform, workspace):
                    continue
                if channel is not None and scope.channel != channel:
                    continue
                selected.append((index, scope))
        async with self._client.pipeline(transaction=False) as pipe:
            for index, scope in selected:
                base = f"teambot:usage:{wanted[index].isoformat()}:scope:{scope.digest}"
                pipe.hgetall(f"{base}:totals")
                pipe.hgetall(f"{base}:cited")
                pipe.hgetall(f"{base}:errors")
                pipe.lrange(f"{base}:latency", 0, -1)
                pipe.lrange(f"{base}:gaps", 0, -1)
            raw_scopes = await pipe.execute() if selected else []
        for position, (index, scope) in enumerate(selected):
            totals, cited, errors, latency, gaps = raw_scopes[position * 5:(position + 1) * 5]
            result[index].scopes.append(ScopeDayUsage(
                scope=scope, users_key=f"teambot:usage:{wanted[index].isoformat()}:scope:{scope.digest}:users",
                **_decoded_figures(totals, cited, errors, latency, gaps),
            ))
        return result

    async def distinct_users_in(self, users_keys: Iterable[str]) -> int:
        """Distinct (pseudonymous) askers over the given scopes' HyperLogLogs."""
        keys = list(dict.fromkeys(users_keys))
        return int(await self._client.pfcount(*keys)) if keys else 0

    async def distinct_users(self, days: Iterable[date]) -> int:
        """Distinct (pseudonymous) askers over several days: the union of the days' HyperLogLogs."""
        keys = [f"teambot:usage:{day.isoformat()}:users" for day in days]
        return int(await self._client.pfcount(*keys)) if keys else 0
