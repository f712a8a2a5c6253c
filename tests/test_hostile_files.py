"""Hostile and broken files: each is refused or bounded with one line, nothing is half-stored,
and the bot keeps answering while they are read."""

from __future__ import annotations

import asyncio
import io
import random
from typing import Callable

import pytest

from adapters.fake.adapter import FakeAdapter
from bot.app import Teambot
from bot.events import Scope
from bot.parsers import IngestError
from bot.settings import Settings
from tests.support import documents

SCOPE = Scope("fake", "W1", "general")


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(documents.make_pdf(["Top secret salary table"]))).pages:
        writer.add_page(page)
    writer.encrypt("hunter2")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def blank_pages_pdf(pages: int) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def hostile_corpus(seed: int = 7) -> list[tuple[str, bytes]]:
    """Many broken files: fixed nasty cases plus random, truncated and bit-flipped variants."""
    rng = random.Random(seed)
    pdf = documents.make_pdf(["Quarterly numbers", "More numbers"])
    docx = documents.make_docx([("h1", "Title"), ("p", "Body text here.")])
    corpus: list[tuple[str, bytes]] = [
        ("empty.pdf", b""),
        ("empty.docx", b""),
        ("photo.pdf", b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(2000))),
        ("report.docx", pdf),  # a PDF wearing a .docx name
        ("notes.md", bytes(range(128, 256)) * 20),  # not UTF-8, not Korean either
        ("secret.pdf", encrypted_pdf()),
        ("bomb.docx", documents.zip_bomb_docx(64 * 1024 * 1024)),
        ("thousands.pdf", blank_pages_pdf(2600)),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000),
        ("binary.py", b"\x7fELF\x02\x01\x01\x00" + bytes(rng.randrange(256) for _ in range(4000))),
    ]
    for name, valid in (("doc.pdf", pdf), ("doc.docx", docx), ("page.html", documents.HTML.encode())):
        for _ in range(6):
            cut = rng.randrange(1, len(valid))
            corpus.append((f"truncated-{cut}-{name}", valid[:cut]))
            flipped = bytearray(valid)
            for _ in range(20):
                flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            corpus.append((f"flipped-{len(corpus)}-{name}", bytes(flipped)))
    for extension in (".pdf", ".docx", ".html", ".csv", ".json", ".txt", ".md", ".py"):
        corpus.append((f"random{extension}", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5000)))))
    return corpus


async def _state(teambot: Teambot) -> tuple[list[tuple[str, str]], int]:
    listed = await teambot.knowledge.list_documents([SCOPE])
    return sorted((d.source, d.content_hash) for d in listed), await teambot.vectors.count()


async def test_fuzzed_files_are_refused_with_one_line_or_stored_whole(teambot: Teambot) -> None:
    await teambot.knowledge.ingest(name="keep.md", data=b"# Keep\n\nThis must survive.", scope=SCOPE, uploader="a")
    refused = 0
    for name, data in hostile_corpus():
        before = await _state(teambot)
        try:
            result = await teambot.knowledge.ingest(name=name, data=data, scope=SCOPE, uploader="fuzz")
        except IngestError as error:
            refused += 1
            reason = str(error)
            assert reason and "\n" not in reason and len(reason) < 200, (name, reason)
            assert await _state(teambot) == before, f"{name} changed the store although it was refused"
        else:
            # A damaged file that still reads (e.g. flipped bits in a text run) is stored whole.
            listed = {d.source: d for d in await teambot.knowledge.list_documents([SCOPE])}
            assert listed[name].chunk_count == result.document.chunk_count
            assert await teambot.vectors.count() == before[1] + result.document.chunk_count
            await teambot.knowledge.delete([SCOPE], name)
    assert refused >= 20
    assert [d.source for d in await teambot.knowledge.list_documents([SCOPE])] == ["keep.md"]


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("secret.pdf", encrypted_pdf, "the PDF is encrypted; upload a copy without a password"),
        ("thousands.pdf", lambda: blank_pages_pdf(2600), "the PDF has 2600 pages, more than the limit of 2000"),
        ("bomb.docx", lambda: documents.zip_bomb_docx(300 * 1024 * 1024), "the .docx expands to more than the allowed size"),
        ("notes.md", lambda: bytes(range(128, 256)) * 20, "the file is not valid UTF-8 text"),
        ("huge.txt", lambda: b"a" * (100 * 1024 * 1024), "the file is 100.0 MB, over the 20 MB limit"),
    ],
)
async def test_specific_hostile_files_get_specific_reasons(teambot: Teambot, name: str, make, reason: str) -> None:
    with pytest.raises(IngestError) as raised:
        await teambot.knowledge.ingest(name=name, data=make(), scope=SCOPE, uploader="mallory")
    assert str(raised.value).startswith(reason)


async def test_a_slow_file_is_stopped_and_the_bot_keeps_answering(make_settings: Callable[..., Settings]) -> None:
    async with Teambot(make_settings(parse_timeout_s=1.0)) as teambot:
        fake = FakeAdapter(teambot)
        await fake.upload("guide.md", b"# Guide\n\nThe web console listens on port 8080.")
        # Half a million nested elements take the HTML reader several seconds.
        deep = ("<div>" * 500_000 + "deep" + "</div>" * 500_000).encode()
        upload = asyncio.create_task(fake.upload("deep.html", deep))
        answer = await fake.say("Which port does the web console listen on?")

        assert not upload.done(), "the answer came while the slow file was still being read"
        assert answer.reply is not None and "8080" in answer.reply.text
        [outcome] = await upload
        assert outcome.error == "reading the file took longer than 1 s"
        # The killed reader is replaced: the next upload reads normally.
        [after] = await fake.upload("page.html", documents.HTML.encode())
        assert after.result is not None and after.result.status == "added"
