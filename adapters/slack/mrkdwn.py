"""Markdown (what the model writes) -> Slack mrkdwn (what Slack renders).

Slack's dialect differs in the common cases: `*bold*` not `**bold**`,
`_italic_`, `~strike~`, `<url|text>` links, no headings, and `&`, `<`, `>`
must be escaped. Code spans and blocks are passed through untouched.
"""

from __future__ import annotations

import re

_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC_STAR = re.compile(r"(?<![*\w])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[-*+]\s+", re.MULTILINE)

# Private-use placeholders keep converted pieces away from later rules.
_HOLD = "\ue000{}\ue001"
_HELD = re.compile("\ue000(\\d+)\ue001")


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

    text = _CODE.sub(lambda m: hold(m.group(0)), markdown)
    text = escape(text)
    text = _LINK.sub(lambda m: hold(f"<{m.group(2)}|{m.group(1)}>"), text)
    text = _HEADING.sub(lambda m: hold(f"*{m.group(1).strip('*')}*"), text)
    # Italic first: after bold turns `**x**` into `*x*`, it would look like italic.
    text = _ITALIC_STAR.sub(lambda m: hold(f"_{m.group(1)}_"), text)
    text = _BOLD.sub(lambda m: hold(f"*{m.group(1) or m.group(2)}*"), text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    while _HELD.search(text):
        text = _HELD.sub(lambda m: held[int(m.group(1))], text)
    return text
