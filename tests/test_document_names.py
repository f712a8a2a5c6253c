"""Stored document names: control and bidi characters never reach the catalog or a listing."""

from __future__ import annotations

import pytest

from bot.app import Teambot
from bot.commands import FileOutcome, documents_text
from bot.core.values import Scope
from bot.knowledge import document_name
from bot.parsers import IngestError

SCOPE = Scope("slack", "T1", "C1")
TEXT = b"# Notes\n\nThe quarterly review is on Thursday.\n"


@pytest.mark.parametrize(("uploaded", "stored"), [
    ("report\x00.md", "report.md"),
    ("two\r\nlines.md", "two lines.md"),
    ("tab\there.md", "tab here.md"),
    # U+202E RIGHT-TO-LEFT OVERRIDE would show "invoice<U+202E>dm.exe" as "invoiceexe.md".
    ("invoice\u202edm.exe", "invoicedm.exe"),
    ("\u2066isolate\u2069 \u200emark\u200f.md", "isolate mark.md"),
    ("zero\u200bwidth\ufeff.md", "zerowidth.md"),
    ("line\u2028sep.md", "line sep.md"),
    ("dir/sub\\name.md", "name.md"),
    ("  padded.md  ", "padded.md"),
    ("회의록 2024년 3분기.md", "회의록 2024년 3분기.md"),
    ("مرحبا.md", "مرحبا.md"),
    ("family 👨\u200d👩\u200d👧.md", "family 👨\u200d👩\u200d👧.md"),
    ("<!channel> urgent <mailto:x@y|payroll portal>.md", "<!channel> urgent <mailto:x@y|payroll portal>.md"),
])
def test_document_name_drops_control_and_bidi_characters_and_keeps_the_rest(uploaded: str, stored: str) -> None:
    assert document_name(uploaded) == stored


async def test_ingested_names_are_stored_clean(teambot: Teambot) -> None:
    result = await teambot.knowledge.ingest(name="minutes\u202e\r\n\x00.md", data=TEXT, scope=SCOPE, uploader="a")
    assert result.document.source == "minutes .md"
    korean = await teambot.knowledge.ingest(name="회의록.md", data=TEXT, scope=SCOPE, uploader="a")
    assert korean.document.source == "회의록.md"
    listing = documents_text(await teambot.knowledge.list_documents([SCOPE]))
    assert len(listing.splitlines()) == 2, "one line per document"
    assert not any(ch in listing for ch in "\x00\r\u202e")


async def test_a_name_of_only_control_characters_is_refused_and_nothing_is_stored(teambot: Teambot) -> None:
    with pytest.raises(IngestError, match="the file has no name"):
        await teambot.knowledge.ingest(name="\u202e\x00\r\n", data=TEXT, scope=SCOPE, uploader="a")
    assert await teambot.knowledge.list_documents([SCOPE]) == []


def test_a_refused_file_s_report_line_shows_the_clean_name() -> None:
    line = FileOutcome("evil\u202egpj.exe\r\nFAKE LINE", error="unsupported file type").line()
    assert line == "✗ evilgpj.exe FAKE LINE: unsupported file type"
