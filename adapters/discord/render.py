"""Markdown Discord does not render, made readable: pipe tables and small print.

Discord's Markdown has no tables: a model's `| a | b |` table arrives as rows of pipes. Tables become
aligned code blocks (column widths counted in display cells, so Korean or CJK text lines up), or, when
too wide to read that way, one line per row naming each column. Everything here is one pass over the
lines and cells (no regular expressions), so hostile text stays linear.
"""

from __future__ import annotations

import unicodedata

MAX_TABLE_WIDTH = 80
"""The widest table (in display cells) shown as an aligned block; wider ones become one line per row."""
_FENCE = "```"


def subtext(text: str) -> str:
    """Every line of `text` as Discord's small grey subtext (`-# `)."""
    return "\n".join(f"-# {line}" for line in text.split("\n") if line.strip())


def display_width(text: str) -> int:
    """How many cells `text` takes in a monospace font: wide and full-width characters two, combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def _cells(line: str) -> list[str]:
    """The cells of a table row: split on pipes not escaped with a backslash, outer pipes dropped."""
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    cells: list[str] = []
    current: list[str] = []
    escaped = False
    for char in body:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
            current.append(char)
        elif char == "|":
            cells.append("".join(current))
            current = []
        else:
            current.append(char)
    cells.append("".join(current))
    return [_cell_text(cell) for cell in cells]


def _cell_text(cell: str) -> str:
    # In a code block Markdown shows literally: drop emphasis and code marks (a backtick could also close
    # the block), and unescape pipes.
    return cell.strip().replace("\\|", "|").replace("**", "").replace("__", "").replace("`", "")


def _is_delimiter_row(line: str) -> bool:
    """`|---|:--:|` and the like: every cell dashes, optionally with colons at either end."""
    if "-" not in line or "|" not in line:
        return False
    for cell in _cells(line):
        core = cell[1:] if cell.startswith(":") else cell
        core = core[:-1] if core.endswith(":") else core
        if not core or core.strip("-"):
            return False
    return True


def _is_row(line: str) -> bool:
    return "|" in line and bool(line.strip())


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def _render_table(header: list[str], rows: list[list[str]]) -> str:
    columns = max(len(header), *(len(row) for row in rows)) if rows else len(header)
    grid = [row + [""] * (columns - len(row)) for row in [header, *rows]]
    widths = [max(display_width(row[index]) for row in grid) for index in range(columns)]
    if sum(widths) + 3 * (columns - 1) > MAX_TABLE_WIDTH:
        # Too wide to line up on a phone: one line per row, each value named by its column.
        names = grid[0]
        lines = []
        for row in grid[1:]:
            pairs = [f"{name}: {value}" if name else value for name, value in zip(names, row, strict=True) if value]
            lines.append("- " + "; ".join(pairs))
        return "\n".join(lines)
    rendered = [" | ".join(_pad(cell, width) for cell, width in zip(row, widths, strict=True)).rstrip()
                for row in grid]
    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([_FENCE, rendered[0], rule, *rendered[1:], _FENCE])


def tables_readable(text: str) -> str:
    """`text` with each Markdown pipe table (outside code blocks) rendered as `_render_table` does."""
    if "|" not in text:
        return text
    lines = text.split("\n")
    out: list[str] = []
    in_code = False
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.lstrip().startswith(_FENCE):
            in_code = not in_code
        elif not in_code and _is_row(line) and index + 1 < len(lines) and _is_delimiter_row(lines[index + 1]) \
                and len(header := _cells(line)) == len(_cells(lines[index + 1])):
            # As in GitHub's Markdown, the delimiter row has as many cells as the header (and a pipe, so a
            # `---` under a line that merely contains one stays a heading rule).
            end = index + 2
            while end < len(lines) and _is_row(lines[end]) and not lines[end].lstrip().startswith(_FENCE):
                end += 1
            out.append(_render_table(header, [_cells(row) for row in lines[index + 2:end]]))
            index = end
            continue
        out.append(line)
        index += 1
    return "\n".join(out)
