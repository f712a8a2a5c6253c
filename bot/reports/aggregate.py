"""Aggregate a period's day buckets (and the previous period's) into one report.

A report is for an `Audience`: its figures count one workspace only, and it
names questions, documents and channels only from channels its readers can
see. Without an audience (`teambot stats`, the local operator) it counts and
names everything.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from bot.reports.periods import Period
from bot.usage import DayUsage, RedisUsage, UsageScope, WorkspaceDay

if TYPE_CHECKING:
    from bot.feedback import RedisFeedback

TOP = 5
"""Rows shown in the top channels / documents lists."""
GAPS_SHOWN = 8
"""Unanswered questions listed in a report."""
DOWNVOTED_SHOWN = 8
"""Answers rated 👎 listed in a report."""
_PLATFORM_LINK = re.compile(r"https://[^\s()<>|\[\]]+")
"""A message link as the platforms give them (Slack permalinks, Discord jump URLs): nothing that could end a
Markdown or mrkdwn link early, or start one."""


def percentile(values: Sequence[float], share: float) -> float | None:
    """Linear-interpolated percentile (`share` in 0..1); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class Audience:
    """Who reads a report, which decides what it may show.

    Figures (counts, latency, tokens) cover every channel of `workspace` on
    `platform`, or only `channel` with `channel_only`; nothing of another
    workspace or platform is read at all. Questions, document names and
    channel ids appear only from `channel` itself (its readers are in it) and,
    with `public_channels`, from the workspace's public channels. Private
    channels, private threads and channels whose visibility is unknown are
    only counted.
    """

    platform: str
    workspace: str
    channel: str | None = None
    public_channels: bool = False
    channel_only: bool = False

    def counts(self, scope: UsageScope) -> bool:
        """True when `scope`'s figures belong in the report."""
        if (scope.platform, scope.workspace) != (self.platform, self.workspace):
            return False
        return not self.channel_only or scope.channel == self.channel

    def names(self, scope: UsageScope) -> bool:
        """True when `scope`'s questions, cited documents and channel id may be shown."""
        if not self.counts(scope):
            return False
        if scope.channel == self.channel and scope.visibility != "private_thread":
            return True
        return self.public_channels and scope.visibility == "public"

    def describe(self) -> str:
        """One line saying what the report covers, shown under its title."""
        where = f"{self.platform} workspace `{self.workspace}`"
        here = f"#{self.channel}" if self.channel else None
        if self.channel_only:
            return f"Figures and names: this conversation ({here}) only."
        if self.public_channels:
            shown = "public channels" + (f" and {here}" if here else "")
            return f"Figures: {where} · questions and documents named from {shown} only."
        if here:
            return f"Figures: {where} (counts only) · questions and documents named from {here} only."
        return f"Figures: {where} (counts only)."


EVERYTHING = "Figures and names: all workspaces and platforms (local operator view)."
"""The scope line of a report without an audience (`teambot stats`)."""


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    questions: int
    unanswered: int


@dataclass(slots=True)
class DownvotedAnswer:
    """An answer rated 👎 in the period: its question, the documents it cited, why, and where to see it."""

    question: str
    documents: list[str]
    votes: int = 0
    reasons: list[str] = field(default_factory=list)
    """What voters said was wrong (the reasons offered, never their own words), each once."""
    link: str | None = None


@dataclass(slots=True)
class PeriodStats:
    """Everything a report says about one period."""

    period: Period
    questions: int = 0
    distinct_users: int = 0
    active_channels: int = 0
    answered: int = 0
    unanswered: int = 0
    errors: int = 0
    helpful: int = 0
    not_helpful: int = 0
    first_token_p50_s: float | None = None
    first_token_p95_s: float | None = None
    total_p50_s: float | None = None
    total_p95_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    uploads: int = 0
    uploaded_documents: int = 0
    uploaded_chunks: int = 0
    upload_failures: int = 0
    top_channels: list[tuple[str, int]] = field(default_factory=list)
    top_documents: list[tuple[str, int]] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    per_day: list[DayCount] = field(default_factory=list)
    unnamed_questions: int = 0
    """Questions counted above whose channel, text and cited documents this report's readers may not see."""
    unnamed_unanswered: int = 0
    unnamed_citations: int = 0
    unnamed_channels: int = 0
    downvoted: list[DownvotedAnswer] = field(default_factory=list)
    """The answers rated 👎 (most recent first) whose channel this report's readers can see."""
    downvoted_answers: int = 0
    """Answers rated 👎 in the period, named or not."""
    downvoted_documents: list[tuple[str, int]] = field(default_factory=list)
    """The documents most often cited in the answers rated 👎 listed above."""
    downvote_reasons: dict[str, int] = field(default_factory=dict)
    """Why answers were rated 👎 (the offered reasons: counts only, from every counted channel)."""
    unnamed_downvoted: int = 0
    """Answers rated 👎 in channels this report's readers may not see: counted, never named."""

    @property
    def dont_know_share(self) -> float | None:
        return self.unanswered / self.questions if self.questions else None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class UsageReport:
    """A period and the one before it, for the change figures."""

    current: PeriodStats
    previous: PeriodStats
    priced: bool
    scope: str = EVERYTHING
    """What the report covers, in one line (see `Audience.describe`)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (`teambot stats --json`)."""

        def stats(s: PeriodStats) -> dict[str, Any]:
            data = asdict(s)
            data["period"] = {"kind": s.period.kind, "start": s.period.start.isoformat(),
                              "end": s.period.end.isoformat(), "label": s.period.label}
            data["per_day"] = [{"day": d.day.isoformat(), "questions": d.questions, "unanswered": d.unanswered}
                               for d in s.per_day]
            data["top_channels"] = [{"channel": c, "questions": n} for c, n in s.top_channels]
            data["top_documents"] = [{"document": c, "citations": n} for c, n in s.top_documents]
            data["downvoted_documents"] = [{"document": c, "answers": n} for c, n in s.downvoted_documents]
            data["dont_know_share"] = s.dont_know_share
            data["tokens"] = s.tokens
            return data

        return {"period": self.current.period.kind, "priced": self.priced, "scope": self.scope,
                "current": stats(self.current), "previous": stats(self.previous)}


def channel_label(key: str) -> str:
    """`slack:T1:C1` -> `slack #C1` (ids only: names would need a platform call)."""
    platform, _, rest = key.partition(":")
    channel = rest.rpartition(":")[2] or rest
    return f"{platform} #{channel}"


@dataclass(slots=True)
class _Tally:
    """What a period's buckets add up to beyond plain counts, summed into `PeriodStats` by `finish`."""

    channels: Counter[str] = field(default_factory=Counter)
    cited: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    first_token: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    """Unanswered questions, oldest first."""
    cost: float = 0.0

    def add_latencies(self, latencies: Sequence[tuple[float | None, float]]) -> None:
        for first, whole in latencies:
            if first is not None:
                self.first_token.append(first)
            self.total.append(whole)

    def finish(self, stats: PeriodStats, *, priced: bool) -> PeriodStats:
        stats.first_token_p50_s = percentile(self.first_token, 0.5)
        stats.first_token_p95_s = percentile(self.first_token, 0.95)
        stats.total_p50_s, stats.total_p95_s = percentile(self.total, 0.5), percentile(self.total, 0.95)
        stats.cost = round(self.cost, 6) if priced else None
        stats.top_channels = [(channel_label(k), n) for k, n in self.channels.most_common(TOP)]
        stats.top_documents = self.cited.most_common(TOP)
        stats.errors_by_kind = dict(self.errors.most_common())
        # The most recent gaps first, each question once: these are the documents to write next.
        seen: dict[str, None] = {}
        for gap in reversed(self.gaps):
            seen.setdefault(" ".join(gap.split()), None)
        stats.gaps = list(seen)[:GAPS_SHOWN]
        return stats


_COUNTS = ("questions", "answered", "unanswered", "errors", "input_tokens", "output_tokens")
"""Counted per question (so per scope, where scoped)."""
_WORKSPACE_COUNTS = ("helpful", "not_helpful", "uploads", "uploaded_documents", "uploaded_chunks", "upload_failures")
"""Counted per workspace only (feedback and uploads carry no question)."""


def _add(stats: PeriodStats, names: Sequence[str], totals: Any) -> None:
    for name in names:
        setattr(stats, name, getattr(stats, name) + int(totals.total(name)))


async def period_stats(usage: RedisUsage, period: Period) -> PeriodStats:
    """Read and add up the day buckets of `period` (every scope: the operator's view)."""
    days: list[DayUsage] = await usage.read_days(period.days())
    stats = PeriodStats(period=period)
    tally = _Tally()
    for day in days:
        _add(stats, _COUNTS + _WORKSPACE_COUNTS, day)
        tally.cost += day.total("cost")
        tally.channels.update(day.channels)
        tally.cited.update(day.cited)
        tally.errors.update(day.errors)
        tally.add_latencies(day.latencies)
        tally.gaps.extend(day.gaps)
        stats.per_day.append(DayCount(day.day, int(day.total("questions")), int(day.total("unanswered"))))
    stats.distinct_users = await usage.distinct_users(period.days())
    stats.active_channels = len(tally.channels)
    return tally.finish(stats, priced=usage.priced)


async def audience_stats(usage: RedisUsage, period: Period, audience: Audience) -> PeriodStats:
    """Add up `period` for `audience`: its workspace's (or channel's) figures, names only where it may see them."""
    channel = audience.channel if audience.channel_only else None
    days: list[WorkspaceDay] = await usage.read_workspace_days(period.days(), platform=audience.platform,
                                                               workspace=audience.workspace, channel=channel)
    stats = PeriodStats(period=period)
    tally = _Tally()
    counted_channels: set[str] = set()
    unnamed_channels: set[UsageScope] = set()
    users_keys: list[str] = []
    for day in days:
        day_questions = day_unanswered = 0
        _add(stats, _WORKSPACE_COUNTS, day)
        for scope_day in day.scopes:
            scope = scope_day.scope
            if not audience.counts(scope):
                continue
            _add(stats, _COUNTS, scope_day)
            day_questions += int(scope_day.total("questions"))
            day_unanswered += int(scope_day.total("unanswered"))
            tally.cost += scope_day.total("cost")
            tally.errors.update(scope_day.errors)  # error kinds are ours (timeouts...), never users' words
            tally.add_latencies(scope_day.latencies)
            users_keys.append(scope_day.users_key)
            counted_channels.add(scope.channel)
            if audience.names(scope):
                tally.channels[f"{scope.platform}:{scope.workspace}:{scope.channel}"] += int(
                    scope_day.total("questions"))
                tally.cited.update(scope_day.cited)
                tally.gaps.extend(scope_day.gaps)
            else:
                stats.unnamed_questions += int(scope_day.total("questions"))
                stats.unnamed_unanswered += int(scope_day.total("unanswered"))
                stats.unnamed_citations += sum(scope_day.cited.values())
                unnamed_channels.add(scope)
        stats.per_day.append(DayCount(day.day, day_questions, day_unanswered))
    stats.distinct_users = await usage.distinct_users_in(users_keys)
    stats.active_channels = len(counted_channels)
    stats.unnamed_channels = len({scope.channel for scope in unnamed_channels})
    return tally.finish(stats, priced=usage.priced)


async def add_downvotes(stats: PeriodStats, feedback: RedisFeedback, *, audience: Audience | None) -> None:
    """The period's answers rated 👎, as `audience` may see them (everything without one): named with their
    question, documents and link only from the channels it may name, the others counted."""
    if audience is None:
        votes = await feedback.votes_on(stats.period.days())
    else:  # nothing of another workspace or platform is read
        votes = await feedback.votes_on(stats.period.days(), platform=audience.platform,
                                        workspace=audience.workspace)
    named: dict[str, DownvotedAnswer] = {}
    unnamed: set[str] = set()
    reasons: Counter[str] = Counter()
    for vote in votes:  # newest first
        answer = vote.answer
        if vote.helpful or (audience is not None and not audience.counts(answer.scope)):
            continue
        if vote.reason:
            reasons[vote.reason] += 1
        if audience is not None and not audience.names(answer.scope):
            unnamed.add(answer.answer_id)
            continue
        entry = named.setdefault(answer.answer_id, DownvotedAnswer(question=answer.question,
                                                                   documents=answer.documents))
        entry.votes += 1
        if vote.reason and vote.reason not in entry.reasons:
            entry.reasons.append(vote.reason)
        if entry.link is None and vote.link and _PLATFORM_LINK.fullmatch(vote.link):
            entry.link = vote.link
    documents: Counter[str] = Counter(document for entry in named.values() for document in entry.documents)
    stats.downvoted = list(named.values())[:DOWNVOTED_SHOWN]
    stats.downvoted_answers = len(named) + len(unnamed)
    stats.downvoted_documents = documents.most_common(TOP)
    stats.downvote_reasons = dict(reasons.most_common())
    stats.unnamed_downvoted = len(unnamed)


async def build_report(usage: RedisUsage, period: Period, *, audience: Audience | None = None,
                       feedback: RedisFeedback | None = None) -> UsageReport:
    """The report for `period`, compared with the period before it.

    With `audience`, only what it may see (see `Audience`); without, everything (the local operator).
    With `feedback`, the answers rated 👎 and the documents they cite (of the period only).
    """
    if audience is None:
        report = UsageReport(current=await period_stats(usage, period),
                             previous=await period_stats(usage, period.previous()), priced=usage.priced)
    else:
        report = UsageReport(current=await audience_stats(usage, period, audience),
                             previous=await audience_stats(usage, period.previous(), audience),
                             priced=usage.priced, scope=audience.describe())
    if feedback is not None:
        await add_downvotes(report.current, feedback, audience=audience)
    return report
