"""Answers streamed as Server-Sent Events."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.core.values import Reply


@dataclass
class SseReplyStream:
    """A `ReplyStream` writing Server-Sent Events: `delta` per piece, then the final event.

    A client that goes away mid-answer does not stop the answer: the dispatcher still
    finishes it and saves the turn, so the thread's history stays whole.
    """

    request: web.Request
    response: web.StreamResponse = field(init=False)
    reply: Reply | None = None
    client_gone: bool = False

    def __post_init__(self) -> None:
        self.response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # proxies (nginx) must pass deltas through at once
        })

    async def working(self) -> None:
        await self._prepare()

    async def push(self, *, text_so_far: str, delta: str) -> None:
        await self.send("delta", {"text": delta})

    async def finish(self, reply: Reply) -> None:
        # The final event carries the thread id, which only the handler knows; it sends it.
        self.reply = reply

    async def _prepare(self) -> None:
        if not self.response.prepared:
            await self.response.prepare(self.request)

    async def send(self, event: str, data: dict[str, Any]) -> None:
        """One event; nothing once the client is gone."""
        if self.client_gone:
            return
        try:
            await self._prepare()
            await self.response.write(f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode())
        except (ConnectionError, RuntimeError):
            # RuntimeError: aiohttp refuses writes once the transport is closed.
            self.client_gone = True

    async def close(self) -> None:
        """End the response (if the client is still there to receive the end)."""
        if self.client_gone:
            return
        try:
            await self.response.write_eof()
        except (ConnectionError, RuntimeError):
            pass
