"""The Block Kit an answer is shown with: pure functions from values to Slack's JSON.

The answer's body is Markdown in a `markdown` block, which Slack renders itself (lists, tables,
quotes, links); only what exceeds the block's 12,000 characters falls back to mrkdwn sections.
Everything the bot did not write itself is escaped (see `mrkdwn.escape`), in Markdown too.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from adapters.slack.mrkdwn import escape, to_mrkdwn
from adapters.slack.translate import (
    FEEDBACK_ACTION,
    HELPFUL_VALUE,
    NOT_HELPFUL_VALUE,
    REASON_ACTION,
    STOP_ACTION,
    block_id_for,
)
from bot.core.values import Citation, Reply

WORKING_STATUS = "Looking through the documents"
WORKING_TEXT = f"_{WORKING_STATUS}…_"
CURSOR = " ▍"
SECTION_LIMIT = 3000
"""Slack's maximum length of a section block's text."""
MARKDOWN_LIMIT = 12_000
"""Slack's maximum for all `markdown` blocks of one message together."""
MAX_SOURCES = 10
"""Slack's maximum number of elements in a context block."""
STOP_BLOCK_ID = "teambot_stop"
FEEDBACK_BLOCK_ID = "teambot_feedback"
REASON_BLOCK_ID = "teambot_why"


def _sections(text: str) -> list[dict[str, Any]]:
    """Split mrkdwn into section blocks under Slack's per-block limit, preferring line breaks."""
    blocks = []
    while text:
        piece, text = _first_section(text)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": piece}})
    return blocks


def _first_section(text: str) -> tuple[str, str]:
    """(what fits one section, the rest): cut at a line break, else between words, and never inside
    a link (`<url|label>`) or an escape (`&lt;`), which the reader would see as raw markup."""
    if len(text) <= SECTION_LIMIT:
        return text, ""
    piece = text[:SECTION_LIMIT]
    for separator in ("\n", " "):
        at = piece.rfind(separator, SECTION_LIMIT // 2)
        if at > 0:
            piece = piece[:at]
            break
    link = piece.rfind("<")
    if link > 0 and link > piece.rfind(">"):
        piece = piece[:link]
    entity = piece.rfind("&")
    if entity > 0 and ";" not in piece[entity:]:
        piece = piece[:entity]
    rest = text[len(piece):]
    return piece, rest[1:] if rest.startswith(" ") else rest.lstrip("\n")


def _clip(text: str, limit: int = SECTION_LIMIT) -> str:
    """`text` (escaped) cut to Slack's limit for a block's text (over it, the whole message is refused
    as `invalid_blocks`), never inside an escape such as `&lt;`."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    entity = cut.rfind("&")
    if entity >= 0 and ";" not in cut[entity:]:
        cut = cut[:entity]
    return cut + "…"


def context(text: str) -> dict[str, Any]:
    """A context block with one line of mrkdwn (already escaped)."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text)}]}


def answer_blocks(markdown: str) -> list[dict[str, Any]]:
    """The answer's body: one `markdown` block, or mrkdwn sections when it is too long for one."""
    if not markdown.strip():
        return _sections("_(no answer)_")
    body = escape(markdown)
    if len(body) <= MARKDOWN_LIMIT:
        return [{"type": "markdown", "text": body}]
    return _sections(to_mrkdwn(markdown))


def partial_blocks(markdown: str) -> list[dict[str, Any]]:
    """The answer so far with a cursor, cut to fit one `markdown` block (the final message has it all)."""
    body = _clip(escape(markdown.rstrip()), MARKDOWN_LIMIT - len(CURSOR))
    return [{"type": "markdown", "text": body + CURSOR}]


def source_name(citation: Citation) -> str:
    """The document's name in mrkdwn, as a link `<url|name>` when it has a safe (http/https) URL.

    Both parts are escaped: `&`, `<` and `>` in a URL would end the link or start a mention, and a
    `|` would move where the name starts (`safe_url` refuses those; this holds whatever it lets by).
    """
    name = escape(citation.source)
    url = citation.link
    return f"<{escape(url).replace('|', '%7C')}|{name}>" if url else name


def source_line(citation: Citation, *, now: float) -> str:
    """`*[1]* <url|name> · section · updated 3 days ago`, escaped and within a block's limit."""
    details = [escape(citation.location)] if citation.location else []
    if freshness := citation.freshness(now=now):
        details.append(freshness)
    # Clipping an over-long line must not cut a link in half: the name goes plain then.
    line = " · ".join([f"*[{citation.number}]* {source_name(citation)}", *details])
    if len(line) > SECTION_LIMIT:
        line = " · ".join([f"*[{citation.number}]* {escape(citation.source)}", *details])
    return _clip(line)


def source_blocks(reply: Reply, *, now: float | None = None) -> list[dict[str, Any]]:
    """The cited sources (linked where the document's URL is known, with how recently it changed),
    and the passages consulted but not cited, as context lines."""
    blocks: list[dict[str, Any]] = []
    if reply.citations:
        moment = time.time() if now is None else now
        elements = [{"type": "mrkdwn", "text": source_line(citation, now=moment)}
                    for citation in reply.citations[:MAX_SOURCES]]
        blocks.append({"type": "context", "elements": elements})
    if reply.consulted_only:
        blocks.append(context(escape(reply.consulted_text())))
    return blocks


def feedback_block(answer_id: str | None = None) -> dict[str, Any]:
    """👍/👎 as Slack's `feedback_buttons` (one action; the value says which, the block id which answer)."""
    return {
        "type": "context_actions",
        "block_id": block_id_for(FEEDBACK_BLOCK_ID, answer_id),
        "elements": [{
            "type": "feedback_buttons",
            "action_id": FEEDBACK_ACTION,
            "positive_button": {"text": {"type": "plain_text", "text": "👍"}, "value": HELPFUL_VALUE,
                                "accessibility_label": "This answer was helpful"},
            "negative_button": {"text": {"type": "plain_text", "text": "👎"}, "value": NOT_HELPFUL_VALUE,
                                "accessibility_label": "This answer was not helpful"},
        }],
    }


def reason_blocks(prompt: str, reasons: Sequence[tuple[str, str]], *, answer_id: str) -> list[dict[str, Any]]:
    """The optional "what was wrong" choice offered after a 👎: one button per reason (value: the reason)."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(prompt)}},
        {"type": "actions", "block_id": block_id_for(REASON_BLOCK_ID, answer_id),
         "elements": [{"type": "button", "action_id": REASON_ACTION, "value": reason,
                       "text": {"type": "plain_text", "text": label}} for reason, label in reasons]},
    ]


def stop_block() -> dict[str, Any]:
    """The Stop button shown while an answer is being written."""
    return {
        "type": "actions",
        "block_id": STOP_BLOCK_ID,
        "elements": [{"type": "button", "action_id": STOP_ACTION, "value": "stop",
                      "text": {"type": "plain_text", "text": "⏹ Stop", "emoji": True}}],
    }


def heading_blocks(heading: str | None) -> list[dict[str, Any]]:
    return [context(heading)] if heading else []


def working_blocks(status_mrkdwn: str, *, heading: str | None) -> list[dict[str, Any]]:
    """The placeholder while nothing is written yet: what the agent is doing, and Stop."""
    return [*heading_blocks(heading), {"type": "section", "text": {"type": "mrkdwn", "text": _clip(status_mrkdwn)}},
            stop_block()]


def reply_blocks(reply: Reply, *, heading: str | None = None) -> list[dict[str, Any]]:
    """The final message: optional heading, the answer, sources, and feedback buttons (not on errors)."""
    blocks = [*heading_blocks(heading), *answer_blocks(reply.text), *source_blocks(reply)]
    if reply.mode != "error":
        blocks.append(feedback_block(reply.answer_id))
    return blocks


def fallback_text(reply: Reply) -> str:
    """The notification / screen-reader text of the final message (mrkdwn too: escaped)."""
    text = escape(reply.text or "(no answer)")
    sources = escape(reply.sources_text())
    return f"{text}\n\nSources:\n{sources}" if sources else text
