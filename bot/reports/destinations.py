"""Where a report goes: a small protocol, one implementation per platform (in `slack.py`, `discord.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.reports.aggregate import Audience


class ReportDestination(Protocol):
    """A channel that receives the scheduled report."""

    name: str
    """Stable id of the destination (`slack:C0123`), part of the once-per-period lock key."""

    async def audience(self) -> Audience:
        """Who reads the channel: its workspace, and the channel itself (raise when it can't be told)."""
        ...

    async def post(self, report_text: str, chart_png: bytes, *, title: str) -> None:
        """Post the Markdown text with the chart image; raise on failure (the period is then retried)."""
        ...
