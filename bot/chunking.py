"""Sections of a parsed document -> chunk-sized pieces, bounded in count, time and memory.

This runs in the parser sandbox's worker (see `bot.sandbox`), under its memory cap and time
limit, because splitting a large text is itself a hazard: LangChain's recursive splitter falls
back to one string object per character for text with no separator (a 20 MB CJK text without
punctuation became gigabytes), so such text is cut into plain slices here instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from bot.core.errors import IngestError
from bot.parsers import Section

# Paragraphs, lines, sentences (English and Korean), clauses, words; "" = anywhere.
SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "다. ", "요. ", "。", "; ", ", ", " ", ""]


@dataclass(frozen=True, slots=True)
class ChunkingRules:
    """How a document is cut: piece size and overlap in characters, and the most pieces allowed."""

    chunk_size: int
    chunk_overlap: int
    max_chunks: int


@dataclass(frozen=True, slots=True)
class Piece:
    """One chunk's text and the location of the section it came from."""

    text: str
    location: str


class _SlicingSplitter(RecursiveCharacterTextSplitter):
    """The recursive splitter, except that text holding none of the separators is sliced directly."""

    def _split_text(self, text: str, separators: list[str]) -> list[str]:
        if any(separator and separator in text for separator in separators):
            return super()._split_text(text, separators)
        # What the "" separator would give (pieces of chunk_size overlapping by chunk_overlap),
        # without first making a list of one string per character.
        size, step = self._chunk_size, self._chunk_size - self._chunk_overlap
        pieces = []
        start = 0
        while True:
            piece = text[start : start + size].strip()
            if piece:
                pieces.append(piece)
            if start + size >= len(text):
                return pieces
            start += step


_NUMBERED = re.compile(r"(lines|rows) (\d+)-\d+")


@dataclass(slots=True)
class _Numbering:
    """Where the previous piece of a numbered section (code by lines, CSV by rows) was found, and the
    line breaks counted up to there: each piece's count goes on from the last, so numbering a whole
    file is linear in its length."""

    kind: str
    first: int
    searched_from: int = 0
    counted_to: int = 0
    breaks: int = 0

    def piece(self, section_text: str, text: str) -> tuple[str, str]:
        """The piece with its first line's indentation kept (YAML and Python mean something by it),
        and its location narrowed to the lines or rows it holds."""
        offset = section_text.find(text, self.searched_from)
        if offset < 0:
            return text, ""
        separator = "\n" if self.kind == "lines" else "\n\n"  # CSV: one row per paragraph
        self.breaks += section_text.count(separator, self.counted_to, offset)
        self.counted_to, self.searched_from = offset, offset + 1
        line_start = section_text.rfind("\n", 0, offset) + 1
        if section_text[line_start:offset].isspace():
            text = section_text[line_start:offset] + text
        begin = self.first + self.breaks
        return text, f"{self.kind} {begin}-{begin + text.count(separator)}"


def split_sections(sections: Iterable[Section], rules: ChunkingRules, *, max_chars: int | None = None
                   ) -> list[Piece]:
    """Cut `sections` into pieces; raises `IngestError` past `rules.max_chunks`, or when the sections'
    text plus the location every piece repeats comes to more than `max_chars` (a long heading over
    many tiny sections would otherwise multiply a small file many times over). Pieces of code and
    CSV sections carry the lines or rows they hold."""
    splitter = _SlicingSplitter(
        chunk_size=rules.chunk_size, chunk_overlap=rules.chunk_overlap, separators=SEPARATORS, keep_separator="end",
    )
    pieces: list[Piece] = []
    stored = 0
    for section in sections:
        stored += len(section.text)
        match = _NUMBERED.fullmatch(section.location)
        numbering = _Numbering(match.group(1), int(match.group(2))) if match else None
        for text in splitter.split_text(section.text):
            text = text.strip()
            if not text:
                continue
            location = section.location
            if numbering is not None:
                text, narrowed = numbering.piece(section.text, text)
                location = narrowed or location
            pieces.append(Piece(text, location))
            stored += len(location)
            if len(pieces) > rules.max_chunks:
                raise IngestError(f"the document is too large (more than {rules.max_chunks} chunks)")
            if max_chars is not None and stored > max_chars:
                raise IngestError(f"the document's text and section headings come to more than {max_chars:,}"
                                  " characters, over the limit")
    return pieces
