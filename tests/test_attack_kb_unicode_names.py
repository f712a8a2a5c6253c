"""Attack: `/kb delete` compared names code point by code point. A file uploaded from a Mac carries
its Korean name decomposed (NFD: 연 as ㅇ+ㅕ+ㄴ), which looks the same as the name the asker
types (NFC), yet `/kb delete 연차 규정.md` answered "no document named …": the document could be
deleted only by its id.
"""

from __future__ import annotations

import unicodedata

from bot.app import Teambot
from bot.commands import Deletion
from bot.core.values import IncomingMessage, Scope

TYPED = "연차 규정.md"


async def test_kb_delete_finds_a_name_stored_decomposed(teambot: Teambot) -> None:
    scope = Scope("console", "local", "general")
    stored = unicodedata.normalize("NFD", TYPED)
    assert stored != TYPED
    await teambot.knowledge.ingest(name=stored, data="# 연차\n\n연차는 15일입니다.\n".encode(), scope=scope,
                                   uploader="me")
    message = IncomingMessage(platform=scope.platform, workspace=scope.workspace, channel=scope.channel,
                              thread="kb", user="me", text="")
    result = await teambot.commands.documents(message, f"delete {TYPED}", command="/kb", trusted=True)
    assert isinstance(result, Deletion) and result.document is not None, result
    assert await teambot.knowledge.list_documents([scope]) == []
