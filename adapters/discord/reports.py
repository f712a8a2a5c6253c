"""Usage reports on Discord: one message with the chart attached, more if the text is long.

Posted through the adapter's logged-in client (REST only: no gateway event is needed).
"""

from __future__ import annotations

import io

import discord

from adapters.discord.stream import split_message
from bot.core.values import Report


class DiscordReportNotReady(RuntimeError):
    """The Discord client has not logged in yet, or the report channel is in no server."""


def _logged_in(client: discord.Client | None) -> discord.Client:
    if client is None or client.http.token is None:
        raise DiscordReportNotReady("the Discord client is not logged in")
    return client


async def channel_server(client: discord.Client | None, channel: str) -> str:
    """The id of the server (guild) `channel` is in: a report there counts that server's usage."""
    client = _logged_in(client)
    found = client.get_channel(int(channel)) or await client.fetch_channel(int(channel))
    guild = getattr(found, "guild", None)
    if guild is None:
        raise DiscordReportNotReady("the report channel is not in a server; the report names a server's usage")
    return str(guild.id)


async def send_report(client: discord.Client | None, *, channel: str, report: Report) -> None:
    """The first piece of text carries the chart; discord.HTTPException on failure."""
    target = _logged_in(client).get_partial_messageable(int(channel))
    pieces = split_message(report.text) or [report.title]
    # Questions quoted in the report are users' text: never let them ping anyone.
    quiet = discord.AllowedMentions.none()
    chart = discord.File(io.BytesIO(report.chart_png), filename=report.chart_name, description=report.chart_alt)
    await target.send(pieces[0], file=chart, allowed_mentions=quiet)
    for piece in pieces[1:]:
        await target.send(piece, allowed_mentions=quiet)
