"""Hooking reports into `teambot serve`: the `/stats` command on each platform and the scheduler.

    scheduler = attach_reports(teambot, adapters)   # before the adapters start (commands must be registered)
    ...start the adapters...
    if scheduler: await stack.enter_async_context(scheduler)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.base import Adapter
from bot.permissions import Actor, Permissions
from bot.reports import KINDS, Audience, PeriodKind, render_text, stats_report
from bot.reports.destinations import ReportDestination
from bot.reports.scheduler import ReportScheduler
from bot.usage import RedisUsage

log = logging.getLogger(__name__)

STATS_COMMAND = "/stats"
DEFAULT_STATS_PERIOD: PeriodKind = "week"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def parse_period(text: str) -> PeriodKind | None:
    """`/stats`, `/stats day|week|month`; None for anything else."""
    word = text.strip().lower() or DEFAULT_STATS_PERIOD
    return word if word in KINDS else None


def stats_audience(*, platform: str, workspace: str, channel: str, is_admin: bool,
                   workspace_is_real: bool = True) -> Audience:
    """Who `/stats` answers: the asking channel in full, its workspace's figures as counts only.

    Admins also get the names from their workspace's public channels; nobody gets another
    workspace's or platform's. Where the "workspace" is no real one (Discord DMs), only the
    conversation itself.
    """
    if not workspace_is_real:
        return Audience(platform=platform, workspace=workspace, channel=channel, channel_only=True)
    return Audience(platform=platform, workspace=workspace, channel=channel, public_channels=is_admin)


async def stats_text(usage: RedisUsage, text: str, *, audience: Audience,
                     clock: Callable[[], datetime] = _utc_now) -> str:
    """What `/stats [day|week|month]` answers to `audience` (see `stats_audience`)."""
    kind = parse_period(text)
    if kind is None:
        return f"Usage: `{STATS_COMMAND} [day|week|month]` (default: {DEFAULT_STATS_PERIOD}, the period so far)."
    return render_text(await stats_report(usage, kind=kind, now=clock(), audience=audience))


# --- Slack --------------------------------------------------------------------------------------------


def register_slack_stats(adapter: Any, *, usage: RedisUsage, permissions: Permissions | None = None,
                         command: str = STATS_COMMAND, clock: Callable[[], datetime] = _utc_now) -> None:
    """Add `/stats` to the Slack adapter's Bolt app: ack at once, answer ephemerally after.

    The answer covers the asking channel and its workspace only (`stats_audience`); `permissions`
    tells admins (none without). Uses only the adapter's public surface (`app`, `client`, `spawn`);
    the command must also be declared in the Slack app's manifest.
    """
    from adapters.slack.translate import PLATFORM, workspace_of  # noqa: PLC0415 - Slack only when used
    from bot.reports.slack import stats_ephemeral  # noqa: PLC0415 - Slack libraries only when Slack is used

    async def work(body: dict[str, Any]) -> None:
        user = str(body.get("user_id") or "")
        audience = stats_audience(
            platform=PLATFORM, workspace=workspace_of(body), channel=str(body["channel_id"]),
            is_admin=permissions is not None and permissions.is_admin(Actor(PLATFORM, user)))
        text = await stats_text(usage, body.get("text") or "", audience=audience, clock=clock)
        await stats_ephemeral(client=adapter.client, channel=str(body["channel_id"]),
                              user=str(body.get("user_id") or ""), text=text)

    async def listener(ack: Any, command: dict[str, Any]) -> None:
        adapter.spawn(work(command), name="slack-stats")
        await ack()

    adapter.app.command(command)(listener)


# --- Discord ------------------------------------------------------------------------------------------


def discord_stats_command(*, usage: RedisUsage, permissions: Permissions | None = None,
                          clock: Callable[[], datetime] = _utc_now) -> Any:
    """The `/stats` application command for discord.py's CommandTree (answers ephemerally).

    The answer covers the asking channel (a thread's parent) and its server only; `permissions`
    tells admins (none without); in a DM, only that conversation.
    """
    import discord  # noqa: PLC0415
    from discord import app_commands  # noqa: PLC0415

    from adapters.discord.stream import split_message  # noqa: PLC0415
    from adapters.discord.translate import interaction_message  # noqa: PLC0415

    @app_commands.command(name="stats", description="Usage statistics of the bot (only you see them).")
    @app_commands.describe(period="day, week or month so far (default: week)")
    @app_commands.choices(period=[app_commands.Choice(name=k, value=k) for k in KINDS])
    async def stats(interaction: discord.Interaction[Any], period: str = DEFAULT_STATS_PERIOD) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        asker = interaction_message(interaction, text="")
        audience = stats_audience(
            platform=asker.platform, workspace=asker.workspace, channel=asker.channel,
            is_admin=permissions is not None and permissions.is_admin(asker.actor),
            workspace_is_real=not asker.is_dm)  # Discord DMs share the "dm" workspace: only that conversation
        pieces = split_message(await stats_text(usage, period, audience=audience, clock=clock)) or ["(nothing)"]
        quiet = discord.AllowedMentions.none()
        await interaction.edit_original_response(content=pieces[0], allowed_mentions=quiet)
        for piece in pieces[1:]:
            await interaction.followup.send(piece, ephemeral=True, allowed_mentions=quiet)

    return stats


# --- serve --------------------------------------------------------------------------------------------


def attach_reports(teambot: Any, adapters: Sequence[Adapter], *,
                   clock: Callable[[], datetime] = _utc_now) -> ReportScheduler | None:
    """Register `/stats` on the Slack and Discord adapters; build the scheduler when a channel is configured.

    Call before the adapters start (Discord syncs its commands at login);
    enter the returned scheduler after they started (posting needs their clients).
    """
    settings = teambot.settings
    usage: RedisUsage = teambot.usage
    destinations: list[ReportDestination] = []
    for adapter in adapters:
        if adapter.platform == "slack":
            register_slack_stats(adapter, usage=usage, permissions=teambot.permissions, clock=clock)
            if settings.report_slack_channel:
                from bot.reports.slack import SlackReportDestination  # noqa: PLC0415

                destinations.append(SlackReportDestination(client=adapter.client,  # type: ignore[attr-defined]
                                                           channel=settings.report_slack_channel))
        elif adapter.platform == "discord":
            adapter.extra_commands.append(  # type: ignore[attr-defined]
                discord_stats_command(usage=usage, permissions=teambot.permissions, clock=clock))
            if settings.report_discord_channel:
                from bot.reports.discord import DiscordReportDestination  # noqa: PLC0415

                destinations.append(DiscordReportDestination(
                    client=lambda adapter=adapter: adapter.client,  # type: ignore[misc]
                    channel_id=int(settings.report_discord_channel)))
    if not destinations:
        return None
    return ReportScheduler(redis=teambot.redis, usage=usage, destinations=destinations, cron=settings.report_cron,
                           tz=usage.tz, kind=settings.report_period,
                           grace=timedelta(minutes=settings.report_grace_minutes), clock=clock)
