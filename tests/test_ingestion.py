"""Ingestion: every format keeps its structure; bad input is refused with one line and changes nothing."""

from __future__ import annotations

import sqlite3

import pytest

from bot.app import Teambot
from bot.core.values import Scope
from bot.parsers import IngestError, ParseLimits, parse_document
from tests.support import documents

SCOPE = Scope("fake", "W1", "general")
LIMITS = ParseLimits(max_pages=50)


def test_markdown_headings_become_locations() -> None:
    parsed = parse_document("guide.md", b"# Guide\n\nIntro.\n\n## Linux\n\nRun make.\n\n```\n# not a heading\n```\n",
                            LIMITS)
    assert parsed.title == "Guide"
    assert [s.location for s in parsed.sections] == ["§ Guide", "§ Guide > Linux"]
    assert "# not a heading" in parsed.sections[1].text


def test_pdf_pages_are_numbered() -> None:
    parsed = parse_document("handbook.pdf", documents.make_pdf(["Welcome page", "Expenses are paid monthly."]), LIMITS)
    assert parsed.title == "Handbook"
    assert [s.location for s in parsed.sections] == ["p. 1", "p. 2"]
    assert "Expenses are paid monthly." in parsed.sections[1].text


def test_docx_headings_and_text() -> None:
    data = documents.make_docx([("h1", "Policies"), ("p", "Be kind."), ("h2", "Travel"), ("p", "Book trains.")])
    parsed = parse_document("policies.docx", data, LIMITS)
    assert [(s.location, s.text) for s in parsed.sections] == [
        ("§ Policies", "Be kind."), ("§ Policies > Travel", "Book trains.")
    ]


def test_html_drops_scripts_and_keeps_headings() -> None:
    parsed = parse_document("onboarding.html", documents.HTML.encode(), LIMITS)
    assert parsed.title == "Onboarding"
    text = " ".join(s.text for s in parsed.sections)
    assert "VPN account" in text and "alert" not in text and "color" not in text
    assert "§ Onboarding > Accounts" in [s.location for s in parsed.sections]


def test_csv_rows_keep_their_headers() -> None:
    parsed = parse_document("phones.csv", documents.CSV.encode(), LIMITS)
    assert parsed.sections[0].location == "rows 2-3"
    assert "name: Grace; role: Admiral; extension: 4412" in parsed.sections[0].text


def test_json_paths() -> None:
    parsed = parse_document("oncall.json", documents.JSON.encode(), LIMITS)
    assert "oncall.pager: 555-0100" in parsed.sections[0].text
    assert parsed.sections[1].location == "§ escalation"


def test_source_code_line_ranges() -> None:
    parsed = parse_document("limiter.py", documents.PYTHON.encode(), LIMITS)
    assert parsed.title == "limiter.py"
    assert parsed.sections[0].location == "lines 1-6"


def test_korean_cp949_text_is_decoded() -> None:
    parsed = parse_document("메모.txt", "회의는 월요일입니다.".encode("cp949"), LIMITS)
    assert parsed.sections[0].text == "회의는 월요일입니다."


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("image.png", b"\x89PNG....", "unsupported file type .png"),
        ("empty.txt", b"", "the file is empty"),
        ("blank.md", b"   \n\n  ", "the file contains no text"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "the PDF is damaged or unreadable"),
        ("broken.docx", b"PK\x03\x04 nope", "the file is not a valid .docx"),
        ("binary.txt", b"abc\x00\x01\x02", "the file looks binary"),
        ("bad.json", b'{"a": ', "the JSON is malformed"),
    ],
)
def test_bad_files_get_one_line_reasons(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(IngestError) as raised:
        parse_document(name, data, LIMITS)
    assert str(raised.value).startswith(reason)
    assert "\n" not in str(raised.value)


def test_pdf_over_page_limit() -> None:
    with pytest.raises(IngestError, match="3 pages, more than the limit of 2"):
        parse_document("long.pdf", documents.make_pdf(["a", "b", "c"]), ParseLimits(max_pages=2))


def test_docx_zip_bomb_is_refused() -> None:
    with pytest.raises(IngestError, match="zip bomb"):
        parse_document("bomb.docx", documents.zip_bomb_docx(64 * 1024 * 1024),
                       ParseLimits(max_unzipped_bytes=32 * 1024 * 1024))


async def _state(teambot: Teambot) -> tuple[list[tuple[str, int, str]], int]:
    listed = await teambot.knowledge.list_documents([SCOPE])
    return [(d.source, d.chunk_count, d.content_hash) for d in listed], await teambot.vectors.count()


async def test_every_format_is_ingested_and_searchable(teambot: Teambot) -> None:
    files = {
        "notes.txt": b"The office wifi password rotates every Monday.",
        "guide.md": b"# Guide\n\n## Linux\n\nThe service listens on port 8080.",
        "handbook.pdf": documents.make_pdf(["Cover", "Expenses are reimbursed within ten days."]),
        "policies.docx": documents.make_docx([("h1", "Travel"), ("p", "Book second class train tickets.")]),
        "onboarding.html": documents.HTML.encode(),
        "phones.csv": documents.CSV.encode(),
        "oncall.json": documents.JSON.encode(),
        "limiter.py": documents.PYTHON.encode(),
    }
    for name, data in files.items():
        result = await teambot.knowledge.ingest(name=name, data=data, scope=SCOPE, uploader="alice")
        assert result.status == "added" and result.document.chunk_count >= 1
    listed, vector_count = await _state(teambot)
    assert sorted(name for name, _, _ in listed) == sorted(files)
    assert vector_count == sum(chunks for _, chunks, _ in listed)

    stored = teambot.vectors.store.collection(SCOPE).get(include=["metadatas", "documents"])
    assert stored["metadatas"][0]["uploader"] == "alice" and len(stored["metadatas"][0]["content_hash"]) == 64
    assert stored["metadatas"][0]["ingested_at"] > 0
    assert {"source", "title", "location", "platform", "workspace", "channel"} <= set(stored["metadatas"][0])
    # The text lives in the catalog only: Chroma would also full-text index it (slow on Korean).
    assert set(stored["documents"]) == {None}

    passages = await teambot.retriever.retrieve("When are expenses reimbursed?", [SCOPE], k=3)
    assert passages[0].chunk.source == "handbook.pdf" and passages[0].chunk.location == "p. 2"
    passages = await teambot.retriever.retrieve("Grace extension", [SCOPE], k=3)
    assert passages[0].chunk.source == "phones.csv"


async def test_reingest_replaces_unchanged_is_skipped_and_delete_removes(teambot: Teambot) -> None:
    first = await teambot.knowledge.ingest(name="faq.md", data=b"# FAQ\n\nLunch is at noon.", scope=SCOPE, uploader="a")
    again = await teambot.knowledge.ingest(name="faq.md", data=b"# FAQ\n\nLunch is at noon.", scope=SCOPE, uploader="a")
    assert again.status == "unchanged" and again.document.id == first.document.id

    long_text = "# FAQ\n\n" + "\n\n".join(f"Question {i}: the answer is {i * 7} apples." * 8 for i in range(30))
    replaced = await teambot.knowledge.ingest(name="faq.md", data=long_text.encode(), scope=SCOPE, uploader="b")
    assert replaced.status == "replaced" and replaced.document.chunk_count > 1
    listed, vector_count = await _state(teambot)
    assert len(listed) == 1 and vector_count == replaced.document.chunk_count
    remaining = await teambot.retriever.retrieve("Lunch noon apples", [SCOPE], k=5)
    assert remaining and all("noon" not in p.chunk.text for p in remaining), "the old version must be gone"

    deleted = await teambot.knowledge.delete([SCOPE], "faq.md")
    assert deleted.id == first.document.id
    assert await _state(teambot) == ([], 0)
    with pytest.raises(IngestError, match="no document named 'faq.md' here"):
        await teambot.knowledge.delete([SCOPE], "faq.md")


async def test_refused_files_leave_the_store_exactly_as_it_was(teambot: Teambot, make_settings) -> None:
    await teambot.knowledge.ingest(name="guide.md", data=b"# Guide\n\nPort 8080.", scope=SCOPE, uploader="a")
    before = await _state(teambot)
    bad = [
        ("guide.md", b""),
        ("guide.md", b"\x00\x01binary"),
        ("guide.pdf", b"%PDF-broken"),
        ("huge.txt", b"x" * (teambot.settings.max_upload_bytes + 1)),
    ]
    for name, data in bad:
        with pytest.raises(IngestError):
            await teambot.knowledge.ingest(name=name, data=data, scope=SCOPE, uploader="mallory")
    assert await _state(teambot) == before


async def test_failed_catalog_write_keeps_the_previous_version(teambot: Teambot) -> None:
    """A catalog failure during a replacement leaves the old version, in the catalog and in Chroma."""
    original = await teambot.knowledge.ingest(name="guide.md", data=b"# Guide\n\nPort 8080.", scope=SCOPE, uploader="a")
    before = await _state(teambot)

    class FailingCatalog:
        """The catalog's write fails after parsing, chunking and embedding succeeded."""

        def __init__(self, real) -> None:
            self._real = real

        def __getattr__(self, name):
            return getattr(self._real, name)

        async def replace_document(self, *args, **kwargs):
            raise RuntimeError("disk full")

    teambot.knowledge.catalog = FailingCatalog(teambot.catalog)
    with pytest.raises(RuntimeError, match="disk full"):
        await teambot.knowledge.ingest(name="guide.md", data=b"# Guide\n\nPort 9090 now.", scope=SCOPE, uploader="a")
    teambot.knowledge.catalog = teambot.catalog
    assert await _state(teambot) == before
    passages = await teambot.retriever.retrieve("port", [SCOPE], k=1)
    assert passages[0].chunk.document_id == original.document.id and "8080" in passages[0].chunk.text


async def test_a_document_replaced_twice_in_a_row_keeps_only_the_last_vectors(teambot: Teambot) -> None:
    """Both versions' vector writes are queued together: the later one wins, nothing of the first stays."""
    first = await teambot.knowledge.ingest(name="faq.md", data=b"# FAQ\n\nLunch is at noon.", scope=SCOPE, uploader="a")
    long_text = "# FAQ\n\n" + "\n\n".join(f"Question {i}: the answer is {i * 7} apples." * 8 for i in range(30))
    second = await teambot.knowledge.ingest(name="faq.md", data=long_text.encode(), scope=SCOPE, uploader="b")
    assert first.document.chunk_count == 1 and second.document.chunk_count > 1
    assert await teambot.vectors.count() == second.document.chunk_count
    stored = teambot.vectors.store.collection(SCOPE).get(include=["metadatas"])
    assert {m["content_hash"] for m in stored["metadatas"]} == {second.document.content_hash}
    await teambot.knowledge.settle()
    assert await teambot.catalog.vector_writes_owed() == []


async def test_vector_writes_a_crash_left_owed_are_done_at_the_next_start(make_settings) -> None:
    """The catalog changed but the process died before Chroma heard: the next start catches up."""
    settings = make_settings()
    async with Teambot(settings) as teambot:
        kept = await teambot.knowledge.ingest(name="kept.md", data=b"The archive door code is 4417.", scope=SCOPE,
                                              uploader="a")
        gone = await teambot.knowledge.ingest(name="gone.md", data=b"The old door code was 1234.", scope=SCOPE,
                                              uploader="a")
        await teambot.knowledge.settle()
        catalog = teambot.catalog.path
        # As a crash would leave it: kept.md's vectors never reached Chroma, and gone.md was
        # deleted from the catalog while its vectors stayed. Both owed, in the outbox.
        teambot.vectors.store.collection(SCOPE).delete(where={"document_id": kept.document.id})
    with sqlite3.connect(catalog) as db:
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("DELETE FROM documents WHERE id = ?", (gone.document.id,))
        for document_id in (kept.document.id, gone.document.id):
            db.execute("INSERT INTO vector_outbox (document_id, platform, workspace, channel) VALUES (?,?,?,?)",
                       (document_id, SCOPE.platform, SCOPE.workspace, SCOPE.channel))

    async with Teambot(settings) as teambot:
        assert await teambot.vectors.count() == kept.document.chunk_count
        vector = await teambot.embedder.embed_query("archive door code")
        [(chunk_id, _)] = await teambot.vectors.query(vector, [SCOPE], limit=5)
        assert chunk_id == f"{kept.document.id}:0"
        await teambot.knowledge.settle()
        assert await teambot.catalog.vector_writes_owed() == []


async def test_scope_is_enforced_by_the_stores(teambot: Teambot) -> None:
    here, there = SCOPE, Scope("fake", "W1", "secret-channel")
    other_workspace = Scope("fake", "W2", "general")
    await teambot.knowledge.ingest(name="a.md", data=b"The launch code is alpha.", scope=here, uploader="a")
    await teambot.knowledge.ingest(name="b.md", data=b"The launch code is bravo.", scope=there, uploader="a")
    await teambot.knowledge.ingest(name="c.md", data=b"The launch code is charlie.", scope=other_workspace,
                                   uploader="a")
    await teambot.knowledge.ingest(name="w.md", data=b"The launch code is whiskey.", scope=here.workspace_wide(),
                                   uploader="a")

    found = await teambot.retriever.retrieve("launch code", [here, here.workspace_wide()], k=10)
    seen = {p.chunk.source for p in found}
    assert seen == {"a.md", "w.md"}
    only_there = {f"{d.id}:0" for d in await teambot.knowledge.list_documents([there])}
    lexical_ids = {cid for cid, _ in await teambot.lexical.search(["launch"], [there], limit=10)}
    dense_ids = {cid for cid, _ in await teambot.vectors.query([0.1] * 256, [there], limit=10)}
    assert lexical_ids == only_there and dense_ids == only_there
    with pytest.raises(IngestError):
        await teambot.knowledge.delete([here], "b.md")
