"""Where the scheduled report goes: one channel of a platform (a `bot.core.ports.ReportDestination`)."""

from __future__ import annotations

from typing import Protocol

from bot.core.ports import ReportDestination
from bot.core.values import Report
from bot.reports.aggregate import Audience


class ReportChannel(Protocol):
    """A channel that receives the scheduled report: what the scheduler needs of it."""

    name: str
    """Stable id of the channel (`slack:C0123`), part of the once-per-period lock key."""

    async def audience(self) -> Audience:
        """Who reads the channel: its workspace, and the channel itself (raise when it can't be told)."""
        ...

    async def post(self, report: Report) -> None:
        """Post the report; raise on failure (the period is then retried)."""
        ...


class DestinationChannel:
    """`channel` of a platform's `ReportDestination` (its adapter), read by its whole workspace.

    The report names questions and documents of that workspace's public channels, and counts the rest.
    """

    def __init__(self, destination: ReportDestination, channel: str) -> None:
        self._destination = destination
        self.channel = channel
        self.name = f"{destination.platform}:{channel}"

    async def audience(self) -> Audience:
        workspace = await self._destination.channel_workspace(self.channel)
        return Audience(platform=self._destination.platform, workspace=workspace, channel=self.channel,
                        public_channels=True)

    async def post(self, report: Report) -> None:
        await self._destination.post_report(channel=self.channel, report=report)
