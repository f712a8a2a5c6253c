"""Sections of a parsed document -> chunk-sized pieces, bounded in count, time and memory.

This runs in the parser sandbox's worker (see `bot.sandbox`), under its memory cap and time
limit, because splitting a large text is itself a hazard: LangChain's recursive splitter falls
back to one string object per character for text with no separator (a 20 MB CJK text without
punctuation became gigabytes), so such text is cut into plain slices here instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from langchain_text_splitters import RecursiveCharacterTextSplitter

from bot.parsers import IngestError, Section

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


def _numbered_piece(section: Section, text: str, start: int) -> tuple[str, str, int]:
    """A piece of a section numbered by lines (code) or rows (CSV): its location narrowed to the lines
    or rows it holds, and its first line's indentation kept (YAML and Python mean something by it).
    Returns the piece, its location and where to look for the next piece."""
    match = _NUMBERED.fullmatch(section.location)
    offset = section.text.find(text, start) if match else -1
    if match is None or offset < 0:
        return text, section.location, start
    line_start = section.text.rfind("\n", 0, offset) + 1
    if section.text[line_start:offset].isspace():
        text = section.text[line_start:offset] + text
    kind, first = match.group(1), int(match.group(2))
    if kind == "lines":
        begin = first + section.text.count("\n", 0, offset)
        end = begin + text.count("\n")
        location = f"lines {begin}-{end}"
    else:  # CSV: one row per paragraph
        begin = first + section.text.count("\n\n", 0, offset)
        end = begin + text.count("\n\n")
        location = f"rows {begin}-{end}"
    return text, location, offset + 1


def split_sections(sections: Iterable[Section], rules: ChunkingRules) -> list[Piece]:
    """Cut `sections` into pieces; raises `IngestError` past `rules.max_chunks`."""
    splitter = _SlicingSplitter(
        chunk_size=rules.chunk_size, chunk_overlap=rules.chunk_overlap, separators=SEPARATORS, keep_separator="end",
    )
    pieces: list[Piece] = []
    for section in sections:
        start = 0
        for text in splitter.split_text(section.text):
            text = text.strip()
            if not text:
                continue
            text, location, start = _numbered_piece(section, text, start)
            pieces.append(Piece(text, location))
            if len(pieces) > rules.max_chunks:
                raise IngestError(f"the document is too large (more than {rules.max_chunks} chunks)")
    return pieces
