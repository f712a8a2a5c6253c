"""Post a report to a Discord channel: one message with the chart attached, more if the text is long."""

from __future__ import annotations

import io
from collections.abc import Callable

import discord

from adapters.discord.stream import split_message
from bot.reports.aggregate import Audience

CHART_NAME = "usage-report.png"


class DiscordReportNotReady(RuntimeError):
    """The Discord client has not logged in yet."""


class DiscordReportDestination:
    """Posts through the adapter's logged-in client (REST only: no gateway event is needed).

    `client` is a callable because the adapter creates its client when it
    starts, after the scheduler has been built.
    """

    def __init__(self, *, client: Callable[[], discord.Client | None], channel_id: int) -> None:
        self._client = client
        self.channel_id = channel_id
        self.name = f"discord:{channel_id}"

    async def audience(self) -> Audience:
        """The report channel's server (guild): its public channels are named, the rest only counted."""
        client = self._client()
        if client is None or client.http.token is None:
            raise DiscordReportNotReady("the Discord client is not logged in")
        channel = client.get_channel(self.channel_id) or await client.fetch_channel(self.channel_id)
        guild = getattr(channel, "guild", None)
        if guild is None:
            raise DiscordReportNotReady("the report channel is not in a server; the report names a server's usage")
        return Audience(platform="discord", workspace=str(guild.id), channel=str(self.channel_id),
                        public_channels=True)

    async def post(self, report_text: str, chart_png: bytes, *, title: str) -> None:
        """The first piece of text carries the chart; discord.HTTPException on failure."""
        client = self._client()
        if client is None or client.http.token is None:
            raise DiscordReportNotReady("the Discord client is not logged in")
        channel = client.get_partial_messageable(self.channel_id)
        pieces = split_message(report_text) or [title]
        # Questions quoted in the report are users' text: never let them ping anyone.
        quiet = discord.AllowedMentions.none()
        await channel.send(pieces[0], file=discord.File(io.BytesIO(chart_png), filename=CHART_NAME,
                                                        description=title), allowed_mentions=quiet)
        for piece in pieces[1:]:
            await channel.send(piece, allowed_mentions=quiet)
