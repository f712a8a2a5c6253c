"""The one small interface every platform adapter implements.

An adapter does transport only: it translates platform events into
`IncomingMessage`s, hands them to the dispatcher with a `ReplyStream` that
knows how to show progress on its platform, and sends the finished reply.
It is also the `ReportDestination` the scheduled usage reports are posted
through (platforms without report channels keep the refusing defaults).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from bot.core.ports import ReplyStream
from bot.core.values import Reply, Report

__all__ = ["Adapter", "CollectingStream", "ReplyStream", "ReportsUnsupported"]


class ReportsUnsupported(RuntimeError):
    """The platform has no channel a report could be posted to."""


@dataclass
class CollectingStream:
    """A `ReplyStream` that only remembers: for the CLI, the HTTP API and scenario tests."""

    working_shown: bool = False
    deltas: list[str] = field(default_factory=list)
    reply: Reply | None = None

    async def working(self) -> None:
        self.working_shown = True

    async def push(self, *, text_so_far: str, delta: str) -> None:
        self.deltas.append(delta)

    async def finish(self, reply: Reply) -> None:
        self.reply = reply


class Adapter(abc.ABC):
    """A platform connection with a lifecycle: `async with adapter: await adapter.run()`."""

    platform: str

    async def __aenter__(self) -> Adapter:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:  # noqa: B027 - optional: only adapters that connect override it
        """Connect; default does nothing."""

    @abc.abstractmethod
    async def run(self) -> None:
        """Serve events until stopped or the input ends."""

    async def stop(self) -> None:  # noqa: B027 - optional: only adapters that connect override it
        """Disconnect; default does nothing."""

    # --- bot.core.ports.ReportDestination ---

    async def channel_workspace(self, channel: str) -> str:
        """The workspace `channel` belongs to, for a report posted there; default: none can be."""
        raise ReportsUnsupported(f"{self.platform} has no report channels")

    async def post_report(self, *, channel: str, report: Report) -> None:
        """Post a usage report (text and chart) in `channel`; default: none can be."""
        raise ReportsUnsupported(f"{self.platform} has no report channels")
