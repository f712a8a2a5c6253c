"""Hooking the scheduled report into `teambot serve`: one channel per configured platform.

    scheduler = attach_reports(teambot, adapters)   # adapters are `ReportDestination`s
    ...start the adapters...
    if scheduler: await stack.enter_async_context(scheduler)

(`/stats` needs nothing here: every adapter offers it, through `Commands.stats`.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.ports import ReportDestination
from bot.reports.destinations import DestinationChannel
from bot.reports.scheduler import ReportScheduler
from bot.settings import Settings


def _utc_now() -> datetime:
    return datetime.now(UTC)


def report_channels(settings: Settings) -> dict[str, str]:
    """The report channel configured for each platform (`REPORT_SLACK_CHANNEL`, `REPORT_DISCORD_CHANNEL`)."""
    configured = {"slack": settings.report_slack_channel, "discord": settings.report_discord_channel}
    return {platform: channel for platform, channel in configured.items() if channel}


def attach_reports(teambot: Any, destinations: Sequence[ReportDestination], *,
                   clock: Callable[[], datetime] = _utc_now) -> ReportScheduler | None:
    """The scheduler posting to each destination's configured report channel; None when none is configured.

    `teambot` is `bot.app.Teambot` (its settings, Redis, usage counters and feedback). Enter the returned
    scheduler after the destinations started: posting needs their connections.
    """
    settings: Settings = teambot.settings
    channels = report_channels(settings)
    targets = [DestinationChannel(destination, channels[destination.platform])
               for destination in destinations if destination.platform in channels]
    if not targets:
        return None
    return ReportScheduler(redis=teambot.redis, usage=teambot.usage, destinations=targets, cron=settings.report_cron,
                           tz=teambot.usage.tz, kind=settings.report_period,
                           grace=timedelta(minutes=settings.report_grace_minutes), clock=clock,
                           feedback=teambot.feedback)
