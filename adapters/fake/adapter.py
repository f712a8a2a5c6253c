"""A fake platform that drives the dispatcher in scenario tests, recording what a user would see."""

from __future__ import annotations

import asyncio
from itertools import count

from adapters.base import Adapter, CollectingStream
from bot.commands import Deletion, DocumentList, FileOutcome
from bot.core.ports import BotCore
from bot.events import Attachment, IncomingMessage
from bot.scoping import upload_scope


class FakeAdapter(Adapter):
    """`await fake.say("question")` returns the recorded stream of the bot's answer."""

    platform = "fake"

    def __init__(self, teambot: BotCore, *, workspace: str = "W1") -> None:
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
        await self.teambot.commands.ask(self.message(text, **where), stream)  # type: ignore[arg-type]
        return stream

    async def upload(self, name: str, data: bytes, **where: object) -> list[FileOutcome]:
        message = self.message("", attachments=(Attachment(name=name, data=data),), **where)  # type: ignore[arg-type]

        async def fetch() -> tuple[Attachment, ...]:
            return message.attachments

        return await self.teambot.commands.upload(
            names=[a.name for a in message.attachments], fetch=fetch, scope=upload_scope(message),
            uploader=message.user, actor=message.actor,
        )

    async def list_documents(self, **where: object) -> DocumentList:
        return await self.teambot.commands.list_documents(self.message("", **where))  # type: ignore[arg-type]

    async def delete(self, reference: str, **where: object) -> Deletion:
        return await self.teambot.commands.delete(self.message("", **where), reference)  # type: ignore[arg-type]

    async def run(self) -> None:
        await asyncio.Event().wait()
