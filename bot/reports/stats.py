"""`/stats`, written once for every platform: which figures and names the asker may see.

`Commands.stats` (bot/commands.py) calls this; each adapter only renders `StatsAnswer.markdown`
(Slack converts it to mrkdwn, Discord shows it as is).

    stats = UsageStats(usage)
    answer = await stats.answer(asker, "week", is_admin=False)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.core.values import IncomingMessage
from bot.reports import stats_report
from bot.reports.aggregate import Audience, UsageReport
from bot.reports.periods import KINDS, PeriodKind
from bot.reports.render import render_text
from bot.usage import RedisUsage

if TYPE_CHECKING:
    from bot.feedback import RedisFeedback

STATS_COMMAND = "/stats"
DEFAULT_STATS_PERIOD: PeriodKind = "week"
USAGE_HINT = f"Usage: `{STATS_COMMAND} [day|week|month]` (default: {DEFAULT_STATS_PERIOD}, the period so far)."


def _utc_now() -> datetime:
    return datetime.now(UTC)


def parse_period(text: str) -> PeriodKind | None:
    """`/stats`, `/stats day|week|month`; None for anything else."""
    word = text.strip().lower() or DEFAULT_STATS_PERIOD
    return next((kind for kind in KINDS if kind == word), None)


def stats_audience(asker: IncomingMessage, *, is_admin: bool) -> Audience:
    """Who `/stats` answers: the asking channel in full, its workspace's figures as counts only.

    Admins also get the names from their workspace's public channels; nobody gets another
    workspace's or platform's. Where the "workspace" is no real one (Discord DMs), only the
    conversation itself.
    """
    if not asker.workspace_is_real:
        return Audience(platform=asker.platform, workspace=asker.workspace, channel=asker.channel, channel_only=True)
    return Audience(platform=asker.platform, workspace=asker.workspace, channel=asker.channel,
                    public_channels=is_admin)


@dataclass(frozen=True, slots=True)
class StatsAnswer:
    """What `/stats` shows: the report, or a one-line notice (how to use it, why it failed)."""

    report: UsageReport | None = None
    notice: str = ""

    @property
    def markdown(self) -> str:
        """The answer as Markdown (bold, bullet lists, code spans), for the platform to render."""
        return render_text(self.report) if self.report is not None else self.notice


class UsageStats:
    """The figures of the period so far, compared with the whole previous one, as the asker may see them."""

    def __init__(self, usage: RedisUsage, *, feedback: RedisFeedback | None = None,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self._usage = usage
        self._feedback = feedback
        self._clock = clock

    async def answer(self, asker: IncomingMessage, period: str, *, is_admin: bool) -> StatsAnswer:
        """`/stats [day|week|month]` sent by `asker` (`is_admin`: they are one of `TEAMBOT_ADMINS`)."""
        kind = parse_period(period)
        if kind is None:
            return StatsAnswer(notice=USAGE_HINT)
        report = await stats_report(self._usage, kind=kind, now=self._clock(),
                                    audience=stats_audience(asker, is_admin=is_admin), feedback=self._feedback)
        return StatsAnswer(report)
