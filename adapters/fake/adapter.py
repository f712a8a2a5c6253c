"""A fake platform that drives the dispatcher in scenario tests, recording what a user would see."""

from __future__ import annotations

import asyncio
from itertools import count

from adapters.base import Adapter, CollectingStream
from bot.app import Teambot
from bot.events import Attachment, IncomingMessage
from bot.scoping import upload_scope
from bot.uploads import FileOutcome, ingest_attachments


class FakeAdapter(Adapter):
    """`await fake.say("question")` returns the recorded stream of the bot's answer."""

    platform = "fake"

    def __init__(self, teambot: Teambot, *, workspace: str = "W1") -> None:
        self.teambot = teambot
        self.workspace = workspace
        self._ids = count(1)

    def message(self, text: str, *, channel: str = "general", thread: str = "t1", user: str = "alice",
                is_dm: bool = False, attachments: tuple[Attachment, ...] = (), workspace: str | None = None
                ) -> IncomingMessage:
        return IncomingMessage(
            platform=self.platform, workspace=workspace or self.workspace, channel=channel, thread=thread,
            user=user, text=text, attachments=attachments, is_dm=is_dm, mentions_bot=True,
            event_id=f"E{next(self._ids)}",
        )

    async def say(self, text: str, **where: object) -> CollectingStream:
        stream = CollectingStream()
        await self.teambot.dispatcher.handle(self.message(text, **where), stream)  # type: ignore[arg-type]
        return stream

    async def upload(self, name: str, data: bytes, **where: object) -> list[FileOutcome]:
        message = self.message("", attachments=(Attachment(name=name, data=data),), **where)  # type: ignore[arg-type]
        return await ingest_attachments(
            self.teambot.knowledge, self.teambot.usage, attachments=message.attachments,
            scope=upload_scope(message), uploader=message.user,
            actor=message.actor, permissions=self.teambot.permissions,
        )

    async def run(self) -> None:
        await asyncio.Event().wait()
