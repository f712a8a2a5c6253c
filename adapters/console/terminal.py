"""Text on its way to a terminal: printable characters, tabs and line breaks only.

Answers quote documents and documents come from anyone: an escape sequence inside one (ESC ] 52 writes
the clipboard on some terminals, ESC [ 2J clears the screen) or a bidi override would act on the
operator's terminal instead of being shown.
"""

from __future__ import annotations

from bot.core.labels import is_hidden
from bot.core.values import Citation

_KEPT_CONTROLS = frozenset("\n\t")


def for_terminal(text: str) -> str:
    """`text` without control characters (but line breaks and tabs) and invisible format characters."""
    if text.isprintable():  # the common case, decided in C
        return text
    return "".join(char for char in text if char in _KEPT_CONTROLS or not is_hidden(char))


def source_line(citation: Citation, *, now: float) -> str:
    """`  [1] name (section) — updated 3 days ago`, and the document's URL on the next line when it has a
    safe (http/https) one: terminals make a bare URL clickable. Not yet passed through `for_terminal`."""
    line = f"  [{citation.number}] {citation.label()}"
    if freshness := citation.freshness(now=now):
        line += f" — {freshness}"
    return f"{line}\n      {citation.link}" if citation.link else line
