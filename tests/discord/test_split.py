"""The 2,000-character splitter and the sources footer (pure functions)."""

from __future__ import annotations

from adapters.discord.stream import render_reply, sources_block, split_message
from bot.core.values import Citation, Reply


def test_short_text_is_one_piece_unchanged() -> None:
    assert split_message("Hello.\n\nWorld.") == ["Hello.\n\nWorld."]
    assert split_message("   ") == []


def test_splits_on_paragraph_boundaries() -> None:
    paragraphs = [f"Paragraph {i}. " + "word " * 60 for i in range(20)]
    pieces = split_message("\n\n".join(p.strip() for p in paragraphs), limit=700)
    assert all(len(piece) <= 700 for piece in pieces)
    assert len(pieces) > 1
    for piece in pieces:
        assert piece.startswith("Paragraph "), "each piece starts at a paragraph"
    assert "\n\n".join(pieces) == "\n\n".join(p.strip() for p in paragraphs)


def test_one_huge_paragraph_splits_after_sentences() -> None:
    sentences = [f"Sentence number {i} says something useful." for i in range(100)]
    pieces = split_message(" ".join(sentences), limit=300)
    assert all(len(piece) <= 300 for piece in pieces)
    assert all(piece.endswith(".") for piece in pieces), "cuts fall after a sentence"
    assert " ".join(pieces) == " ".join(sentences)


def test_code_block_is_never_cut_when_it_fits() -> None:
    code = "```python\n" + "\n".join(f"x{i} = {i}  # value" for i in range(20)) + "\n```"
    text = "Intro. " * 40 + "\n\n" + code + "\n\n" + "Outro. " * 40
    pieces = split_message(text.strip(), limit=500)
    assert all(len(piece) <= 500 for piece in pieces)
    assert any(code in piece for piece in pieces), "the code block is whole in one piece"
    assert all(piece.count("```") % 2 == 0 for piece in pieces)


def test_blank_lines_inside_code_do_not_split_it() -> None:
    code = "```\nfirst()\n\n\nsecond()\n```"
    pieces = split_message("a " * 200 + "\n\n" + code, limit=420)
    assert any(code in piece for piece in pieces)


def test_oversized_code_block_is_refenced_per_piece() -> None:
    code = "```sh\n" + "\n".join(f"echo line {i}" for i in range(200)) + "\n```"
    pieces = split_message(code, limit=400)
    assert len(pieces) > 1
    for piece in pieces:
        assert len(piece) <= 400
        assert piece.startswith("```sh\n") and piece.endswith("\n```")
    lines = [line for piece in pieces for line in piece.split("\n")[1:-1]]
    assert lines == [f"echo line {i}" for i in range(200)], "no line lost or cut"


def test_sources_name_document_and_page_or_section() -> None:
    citations = (Citation(1, "guide.pdf", "p. 3", "…", "d1"), Citation(2, "notes.md", "§ Setup", "…", "d2"),
                 Citation(3, "plain.txt", "", "…", "d3"))
    assert sources_block(citations) == ("**Sources**\n[1] **guide.pdf** — p. 3\n[2] **notes.md** — § Setup\n"
                                        "[3] **plain.txt**")
    assert render_reply(Reply(text="Answer [1].", citations=citations[:1])) == (
        "Answer [1].\n\n-# **Sources**\n-# [1] **guide.pdf** — p. 3"), "sources are small print (subtext)"
    assert render_reply(Reply(text="No sources.")) == "No sources."
