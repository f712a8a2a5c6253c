"""Attack: README's "an uploaded file's name: 255 characters" holds only for the HTTP API.

The check lived in the HTTP API (`MAX_FILENAME_CHARS`, now in `adapters/http/models.py`), before
`KnowledgeBase.ingest`; Slack, Discord, console and command-line uploads reach `ingest` directly, so a
20,000-character name is stored and then shown in every listing and citation.
"""

from __future__ import annotations

import pytest

from bot.app import Teambot
from bot.core.values import Scope
from bot.parsers import IngestError

SCOPE = Scope("slack", "T1", "C1")
TEXT = b"# Notes\n\nThe quarterly review is on Thursday.\n"


async def test_an_overlong_file_name_is_refused_on_every_platform(teambot: Teambot) -> None:
    name = "<" * 20_000 + ".md"
    with pytest.raises(IngestError):
        await teambot.knowledge.ingest(name=name, data=TEXT, scope=SCOPE, uploader="U1")
    assert await teambot.knowledge.list_documents([SCOPE]) == []
