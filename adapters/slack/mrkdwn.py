"""Markdown (what the model writes) -> Slack mrkdwn (what Slack renders where Markdown is not taken).

Answers go to Slack as Markdown (a `markdown` block, or the text stream), which Slack renders
itself. What must still be mrkdwn (reports, answers too long for a `markdown` block) is parsed
here by markdown-it-py, a CommonMark parser with GitHub's tables, and written out again:

- `**bold**` becomes `*bold*`, `*italic*` `_italic_`, `~~strike~~` `~strike~`, headings bold lines,
  list markers `•`, quotes `> `, tables an aligned code block, links `<url|text>` (a URL may hold
  `)`, as CommonMark allows);
- Slack only sees emphasis that stands apart from the words around it, which Korean, Japanese and
  Chinese text rarely does (`**연차**는`): there a zero-width space keeps the marker apart;
- `&`, `<` and `>` are escaped everywhere, code included, so no text becomes a mention or a link.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from markdown_it import MarkdownIt
from markdown_it.rules_inline.state_inline import Delimiter, StateInline
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode

MAX_CONVERTED_CHARS = 10_000
"""Text past this (cut at a line break) is shown escaped but unformatted. What still becomes mrkdwn
is short (reports; answers over the `markdown` block's 12,000 characters are rare), and the parser,
linear but pure Python, takes about half a second for 10,000 characters of the worst shapes."""
WORD_JOINER_BREAK = "\u200b"
"""Zero-width space: Slack sees a boundary there, a reader sees nothing."""
LINK_SCHEMES = ("http://", "https://", "mailto:")
MAX_INLINE_NESTING = 20
"""Emphasis nested deeper than this is shown as its text. markdown-it bounds how deep blocks nest,
not emphasis (`****…x…****` nests once per pair), and its syntax tree, like our renderer, recurses
once per level: thousands of levels overflowed the stack."""


def _is_wide(character: str) -> bool:
    """A Chinese, Japanese or Korean character (East Asian wide or full-width)."""
    return unicodedata.east_asian_width(character) in ("W", "F")


def _cjk_friendly_emphasis(state: StateInline, silent: bool) -> bool:
    """markdown-it's `*`/`_` rule, with CommonMark's CJK-friendly amendment for `*`.

    CommonMark lets `**` close only where it is not squeezed between punctuation and a letter, so
    `**마크다운(Markdown)**의` stays unbolded: Korean attaches particles with no space. The amendment
    (as in markdown-it's `cjk-friendly` plugin) lets a run open or close next to a wide character.
    """
    start = state.pos
    marker = state.src[start]
    if silent or marker not in ("_", "*"):
        return False
    scanned = state.scanDelims(start, marker == "*")
    can_open, can_close = scanned.can_open, scanned.can_close
    if marker == "*":
        before = state.src[start - 1] if start > 0 else " "
        end = start + scanned.length
        after = state.src[end] if end < state.posMax else " "
        can_open = can_open or (not after.isspace() and _is_wide(before))
        can_close = can_close or (not before.isspace() and _is_wide(after))
    for _ in range(scanned.length):
        token = state.push("text", "", 0)
        token.content = marker
        state.delimiters.append(Delimiter(marker=ord(marker), length=scanned.length, token=len(state.tokens) - 1,
                                          end=-1, open=can_open, close=can_close))
    state.pos += scanned.length
    return True


# CommonMark (which rules how `[a](https://x/a_(b))` and emphasis parse) plus GitHub's tables and
# strikethrough; raw HTML is text. markdown-it guards its own patterns against pathological input
# and limits nesting (so the renderer's recursion is bounded too).
_PARSER = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_PARSER.inline.ruler.at("emphasis", _cjk_friendly_emphasis)


def escape(text: str) -> str:
    """Escape the three characters Slack treats as control characters.

    Everything the bot did not write itself (document names, sections, users' words echoed back)
    goes through this: unescaped, `<!channel>` pings everyone and `<url|text>` is a disguised link.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Undo `escape`: Slack sends users' text with `&`, `<` and `>` already escaped."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def to_mrkdwn(markdown: str) -> str:
    """Convert Markdown to Slack mrkdwn; what Slack has no form for (tables) is laid out readably."""
    head, tail = _split_at_limit(markdown)
    tokens = _PARSER.parse(head)
    for token in tokens:
        _flatten_if_too_deep(token)
    converted = _Renderer().blocks(SyntaxTreeNode(tokens).children)
    return converted + escape(tail)


def _split_at_limit(markdown: str) -> tuple[str, str]:
    if len(markdown) <= MAX_CONVERTED_CHARS:
        return markdown, ""
    cut = markdown.rfind("\n", 0, MAX_CONVERTED_CHARS) + 1 or MAX_CONVERTED_CHARS
    return markdown[:cut], markdown[cut:]


def _flatten_if_too_deep(token: Token) -> None:
    """An inline run nested past `MAX_INLINE_NESTING` becomes one text token: its source, unformatted."""
    if token.type == "inline" and token.children and max(c.level for c in token.children) > MAX_INLINE_NESTING:
        text = Token("text", "", 0)
        text.content = token.content
        token.children = [text]


class _Mark(str):
    """An emphasis or code marker, kept apart from text until its neighbours are known."""


def _is_word(character: str) -> bool:
    return character.isalnum()


def _join(parts: Iterable[str]) -> str:
    """Inline pieces joined; a marker touching a letter or digit outside its span gets a zero-width space."""
    pieces = [piece for piece in parts if piece]
    out: list[str] = []
    last = ""  # the last character written
    opened: list[str] = []
    for index, piece in enumerate(pieces):
        if isinstance(piece, _Mark):
            closing = bool(opened) and opened[-1] == piece
            if closing:
                opened.pop()
                following = pieces[index + 1] if index + 1 < len(pieces) else ""
                out.append(piece)
                if following and not isinstance(following, _Mark) and _is_word(following[0]):
                    out.append(WORD_JOINER_BREAK)
            else:
                opened.append(piece)
                if last and _is_word(last):
                    out.append(WORD_JOINER_BREAK)
                out.append(piece)
            last = piece
        elif piece:
            out.append(piece)
            last = piece[-1]
    return "".join(out)


class _Renderer:
    """Walks markdown-it's syntax tree and writes mrkdwn."""

    def __init__(self) -> None:
        self._quoted = False

    # --- blocks ---------------------------------------------------------------------------

    def blocks(self, nodes: list[SyntaxTreeNode]) -> str:
        """Blocks one after another, as far apart as in the source (one line, or one blank line)."""
        out: list[str] = []
        previous_end: int | None = None
        for node in nodes:
            rendered = self.block(node)
            if out:
                starts = node.map[0] if node.map else None
                out.append("\n\n" if starts is not None and previous_end is not None and starts > previous_end
                           else "\n")
            out.append(rendered)
            previous_end = node.map[1] if node.map else previous_end
        return "".join(out)

    def block(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind == "paragraph":
            return self.inline(node.children)
        if kind == "heading":
            text = self.inline(node.children, plain=True)
            return _join([_Mark("*"), text, _Mark("*")]) if text else node.markup
        if kind in ("bullet_list", "ordered_list"):
            return self.blocks(node.children)
        if kind == "list_item":
            marker = f"{node.info}{node.markup} " if node.info else "• "
            body = self.blocks(node.children)
            indent = " " * len(marker)
            return marker + body.replace("\n", "\n" + indent)
        if kind == "blockquote":
            if self._quoted:  # Slack quotes one level deep: an inner quote is part of the outer one
                return self.blocks(node.children)
            self._quoted = True
            try:
                body = self.blocks(node.children)
            finally:
                self._quoted = False
            return "\n".join(f"> {line}" if line else ">" for line in body.split("\n"))
        if kind in ("fence", "code_block"):
            return f"```\n{escape(node.content.rstrip(chr(10)))}\n```"
        if kind == "table":
            return self.table(node)
        if kind == "hr":
            return "———"
        return escape(node.content)  # anything else (html_block with HTML off never comes): as text

    def table(self, node: SyntaxTreeNode) -> str:
        """mrkdwn has no tables: the rows as an aligned code block (wide characters count twice)."""
        rows: list[list[str]] = []
        for section in node.children:  # thead, tbody
            for row in section.children:
                rows.append([self.inline(cell.children, plain=True) for cell in row.children])
        width = max(len(row) for row in rows)
        columns = [max((_display_width(row[i]) for row in rows if i < len(row)), default=0) for i in range(width)]

        def line(cells: list[str]) -> str:
            padded = [cell + " " * (columns[i] - _display_width(cell)) for i, cell in enumerate(cells)]
            return " | ".join(padded).rstrip()

        lines = [line(rows[0]), "-+-".join("-" * w for w in columns), *(line(row) for row in rows[1:])]
        return "```\n" + "\n".join(lines) + "\n```"

    # --- inline -----------------------------------------------------------------------------

    def inline(self, nodes: list[SyntaxTreeNode], *, plain: bool = False) -> str:
        """An inline run as mrkdwn; `plain` leaves out emphasis markers (headings, table cells)."""
        parts: list[str] = []
        for node in nodes:
            if node.type == "inline":
                parts.append(self.inline(node.children, plain=plain))
            else:
                parts.extend(self._inline_parts(node, plain=plain))
        return _join(parts)

    def _inline_parts(self, node: SyntaxTreeNode, *, plain: bool) -> list[str]:
        kind = node.type
        if kind == "text":
            return [escape(node.content)]
        if kind in ("softbreak", "hardbreak"):
            return ["\n"]
        if kind in ("strong", "em", "s"):
            inner = [p for child in node.children for p in self._inline_parts(child, plain=plain)]
            if plain:
                return inner
            mark = {"strong": "*", "em": "_", "s": "~"}[kind]
            return [_Mark(mark), *inner, _Mark(mark)]
        if kind == "code_inline":
            code = escape(node.content)
            return [code] if plain else [_Mark("`"), code, _Mark("`")]
        if kind in ("link", "image"):
            return [self._link(node)]
        return [escape(node.content)]

    def _link(self, node: SyntaxTreeNode) -> str:
        href = str(node.attrs.get("href") or node.attrs.get("src") or "")
        label = self.inline(node.children, plain=True) or escape(str(node.attrs.get("alt") or ""))
        if not href.startswith(LINK_SCHEMES):
            return f"{label} ({escape(href)})" if href and label else label or escape(href)
        url = escape(href).replace("|", "%7C")
        return f"<{url}>" if not label or label == escape(href) else f"<{url}|{label}>"


def _display_width(text: str) -> int:
    """Columns `text` takes in a monospace font: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)
