"""Attack: a long heading is repeated in the location of every chunk under it, uncounted.

`TEAMBOT_MAX_EXTRACTED_CHARS` (10,000,000) counts a document's text once (`_TextBudget` in
`bot/parsers.py`), but `_sections_by_headings` copies the whole heading path into each section's
location, and every chunk carries it (`bot/chunking.py`). A 56 KB Markdown file (a 20,000-character
heading over 2,000 tiny sections) becomes 40 million characters of locations; at 19,000 sections a
530 KB file gives 380 million, all of it pickled back from the worker into the bot, tokenised for
the term index, written to SQLite and Chroma and echoed in every citation. Expected: the locations
count against the limit (or headings are capped), so such a file is refused or stays small.
"""

from __future__ import annotations

from bot.chunking import ChunkingRules
from bot.parsers import IngestError, ParseLimits
from bot.sandbox import read_document

LIMITS = ParseLimits()  # max_extracted_chars = 10,000,000


def test_repeated_heading_paths_stay_within_the_extracted_text_limit() -> None:
    data = ("# " + "H" * 20_000 + "\n" + "".join(f"## s{i}\n\nword{i}\n" for i in range(2_000))).encode()
    assert len(data) < 60_000
    try:
        document = read_document("notes.md", data, limits=LIMITS,
                                 chunking=ChunkingRules(chunk_size=1000, chunk_overlap=150, max_chunks=20_000))
    except IngestError:
        return  # refused: fine
    stored = sum(len(piece.location) + len(piece.text) for piece in document.pieces)
    assert stored <= LIMITS.max_extracted_chars, (
        f"a {len(data):,}-byte file yields {stored:,} characters in {len(document.pieces):,} chunks")
