"""Markdown (what the model writes) -> Slack mrkdwn (what Slack renders).

Slack's dialect differs in the common cases: `*bold*` not `**bold**`,
`_italic_`, `~strike~`, `<url|text>` links, no headings, and `&`, `<`, `>`
must be escaped (in code spans and blocks too). Code is otherwise passed through untouched.
"""

from __future__ import annotations

import re

from bot.parsers import heading_text

# Every pattern runs in time linear in the text (a model answer can echo a hostile document):
# no repeat sits next to another that can match the same characters, and a span's body cannot
# run past the next opening marker, so a failed match stops there instead of scanning on.
_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
_LINK = re.compile(r"\[([^\[\]\n]+)\]\((https?://[^)\[\s]+)\)")
_BOLD = re.compile(
    r"\*\*(?=\S)((?:[^*\n]|\*(?!\*))+?)(?<=\S)\*\*|__(?=\S)((?:[^_\n]|_(?!_))+?)(?<=\S)__"
)
_ITALIC_STAR = re.compile(r"(?<![*\w])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)((?:[^~\n]|~(?!~))+?)(?<=\S)~~")
_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6}[^\S\n]+\S.*)$", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.MULTILINE)

# Private-use placeholders keep converted pieces away from later rules. The two marker
# characters are removed from the input first, so a text cannot forge a placeholder.
_HOLD = "\ue000{}\ue001"
_HELD = re.compile("\ue000(\\d+)\ue001")
_MARKERS = str.maketrans("", "", "\ue000\ue001")


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
    """Convert common Markdown to Slack mrkdwn; unknown syntax passes through as text."""
    held: list[str] = []

    def hold(piece: str) -> str:
        held.append(piece)
        return _HOLD.format(len(held) - 1)

    # Code keeps its Markdown, but not Slack's control characters: `<!channel>` pings from inside
    # backticks too, and Slack shows `&lt;` as `<` there as everywhere.
    text = _CODE.sub(lambda m: hold(escape(m.group(0))), markdown.translate(_MARKERS))
    text = escape(text)
    text = _LINK.sub(lambda m: hold(f"<{m.group(2)}|{m.group(1)}>"), text)
    text = _HEADING.sub(lambda m: hold(f"*{_heading(m.group(1)).strip('*')}*"), text)
    # Italic first: after bold turns `**x**` into `*x*`, it would look like italic.
    text = _ITALIC_STAR.sub(lambda m: hold(f"_{m.group(1)}_"), text)
    text = _BOLD.sub(lambda m: hold(f"*{m.group(1) or m.group(2)}*"), text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    # A held piece may contain earlier placeholders (a link inside a heading): one pass per level.
    while _HELD.search(text):
        text = _HELD.sub(lambda m: held[int(m.group(1))], text)
    return text


def _heading(line: str) -> str:
    found = heading_text(line)
    return found[1] if found else line
