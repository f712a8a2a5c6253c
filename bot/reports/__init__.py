"""Usage reports: aggregate Redis day buckets, render text and a chart, post on a schedule.

    report = await stats_report(usage, kind="week", now=clock())
    print(render_text(report))
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.reports.aggregate import Audience, PeriodStats, UsageReport, build_report
from bot.reports.destinations import DestinationChannel, ReportChannel
from bot.reports.periods import KINDS, Period, PeriodKind, current, last_complete
from bot.reports.render import render_chart, render_text
from bot.usage import RedisUsage

if TYPE_CHECKING:
    from bot.feedback import RedisFeedback

__all__ = ["KINDS", "Audience", "DestinationChannel", "Period", "PeriodKind", "PeriodStats", "ReportChannel",
           "UsageReport", "build_report", "current", "last_complete", "render_chart", "render_text", "stats_report"]


async def stats_report(usage: RedisUsage, *, kind: PeriodKind, now: datetime,
                       audience: Audience | None = None, feedback: RedisFeedback | None = None) -> UsageReport:
    """The period in progress at `now` (so far), compared with the whole previous one: what `stats` shows.

    `audience` limits it to what those readers may see (`/stats`); without one it covers everything
    (`teambot stats`, a trusted local operator). With `feedback`, it lists the answers rated 👎.
    """
    return await build_report(usage, current(kind, now, usage.tz), audience=audience, feedback=feedback)
