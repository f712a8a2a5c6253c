"""Names and headings shown to people: printable, one line, bounded.

File names, document titles and section headings come from strangers' files and end up in every
listing and citation, on every platform and in terminals. Control characters could split a listing's
lines or drive a terminal (escape sequences); invisible format characters (bidi overrides and
isolates, zero-width spaces, BOM) could make a name look like another or hide a file's real
extension. Every printable character is kept: Korean, Arabic, emoji...
"""

from __future__ import annotations

import unicodedata

MAX_NAME_CHARS = 255
"""The longest file name stored (most file systems' own limit); longer ones are refused."""
MAX_HEADING_CHARS = 200
"""A section heading or document title is cut here: it is repeated in every chunk's location."""

_JOINERS = frozenset("\u200c\u200d")  # zero-width (non-)joiners shape Indic and Arabic script: kept


def is_hidden(char: str) -> bool:
    """A control character, or an invisible format character that could disguise text (bidi
    overrides, zero-width spaces, BOM), but not the joiners some scripts need."""
    return unicodedata.category(char) in ("Cc", "Cf", "Cs") and char not in _JOINERS


def clean_label(text: str, *, max_chars: int | None = None) -> str:
    """`text` as one printable line: line breaks, tabs and other control whitespace become one space,
    other control and format characters are removed, and the result is cut to `max_chars` (with "…").
    Empty if nothing printable is left."""
    kept: list[str] = []
    for char in text:
        if char.isspace() and (is_hidden(char) or unicodedata.category(char) in ("Zl", "Zp")):
            if kept and kept[-1] != " ":  # a line break or tab in a one-line label: one space
                kept.append(" ")
        elif not is_hidden(char):
            kept.append(char)
        if max_chars is not None and len(kept) > max_chars + 1:
            break  # enough to know it is cut: a 20 MB heading costs no more than a short one
    cleaned = "".join(kept).strip()
    if max_chars is not None and len(cleaned) > max_chars:
        cleaned = cleaned[: max_chars - 1].rstrip() + "…"
    return cleaned
