"""A fake platform that drives the dispatcher in scenario tests, recording what a user would see."""

from __future__ import annotations

import asyncio
from itertools import count
from typing import TypedDict, Unpack

from adapters.base import Adapter, CollectingStream
from bot.commands import Deletion, DocumentList, FileOutcome
from bot.core.ports import BotCore
from bot.core.values import Attachment, IncomingMessage
from bot.core.visibility import upload_scope


class Where(TypedDict, total=False):
    """Where a fake message is said: `FakeAdapter.message`'s keyword arguments."""

    channel: str
    thread: str
    user: str
    is_dm: bool
    workspace: str | None


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

    async def say(self, text: str, **where: Unpack[Where]) -> CollectingStream:
        stream = CollectingStream()
        await self.teambot.commands.ask(self.message(text, **where), stream)
        return stream

    async def upload(self, name: str, data: bytes, **where: Unpack[Where]) -> list[FileOutcome]:
        message = self.message("", attachments=(Attachment(name=name, data=data),), **where)

        async def fetch() -> tuple[Attachment, ...]:
            return message.attachments

        outcomes: list[FileOutcome] = await self.teambot.commands.upload(
            names=[a.name for a in message.attachments], fetch=fetch, scope=upload_scope(message),
            uploader=message.user, actor=message.actor,
        )
        return outcomes

    async def list_documents(self, **where: Unpack[Where]) -> DocumentList:
        listing: DocumentList = await self.teambot.commands.list_documents(self.message("", **where))
        return listing

    async def delete(self, reference: str, **where: Unpack[Where]) -> Deletion:
        deletion: Deletion = await self.teambot.commands.delete(self.message("", **where), reference)
        return deletion

    async def run(self) -> None:
        await asyncio.Event().wait()
