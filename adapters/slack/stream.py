"""How one answer appears in Slack: a placeholder at once, throttled edits, one tidy final message.

Slack rate-limits `chat.update` to about one call per second per channel,
so partial answers are shown at most that often; the final message always
replaces the placeholder (or is posted fresh if the placeholder is gone),
so a "working" message is never left hanging.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.mrkdwn import escape, to_mrkdwn
from adapters.slack.translate import HELPFUL_ACTION, NOT_HELPFUL_ACTION
from bot.core.values import Reply

log = logging.getLogger(__name__)

WORKING_TEXT = "_Looking through the documents…_"
CURSOR = " ▍"
SECTION_LIMIT = 3000
"""Slack's maximum length of a section block's text."""
MAX_SOURCES = 10
"""Slack's maximum number of elements in a context block."""


def _sections(text: str) -> list[dict[str, Any]]:
    """Split mrkdwn into section blocks under Slack's per-block limit, preferring line breaks."""
    blocks = []
    while text:
        piece = text[:SECTION_LIMIT]
        if len(text) > SECTION_LIMIT and "\n" in piece[SECTION_LIMIT // 2:]:
            piece = piece[: piece.rindex("\n")]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": piece}})
        text = text[len(piece):].lstrip("\n")
    return blocks


def _clip(mrkdwn: str, limit: int = SECTION_LIMIT) -> str:
    """`mrkdwn` cut to Slack's limit for a block's text (over it, the whole message is refused as
    `invalid_blocks`), never inside an escape such as `&lt;`."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    cut = mrkdwn[: limit - 1]
    entity = cut.rfind("&")
    if entity >= 0 and ";" not in cut[entity:]:
        cut = cut[:entity]
    return cut + "…"


def reply_blocks(reply: Reply, *, heading: str | None = None) -> list[dict[str, Any]]:
    """The final message: optional heading, the answer, sources, and feedback buttons."""
    blocks: list[dict[str, Any]] = []
    if heading:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(heading)}]})
    blocks.extend(_sections(to_mrkdwn(reply.text) or "_(no answer)_"))
    if reply.citations:
        elements = []
        for citation in reply.citations[:MAX_SOURCES]:
            where = f" · {escape(citation.location)}" if citation.location else ""
            elements.append({"type": "mrkdwn",
                             "text": _clip(f"*[{citation.number}]* {escape(citation.source)}{where}")})
        blocks.append({"type": "context", "elements": elements})
    if reply.consulted_only:
        consulted = {"type": "mrkdwn", "text": _clip(escape(reply.consulted_text()))}
        blocks.append({"type": "context", "elements": [consulted]})
    if reply.mode != "error":
        blocks.append({
            "type": "actions",
            "block_id": "teambot_feedback",
            "elements": [
                {"type": "button", "action_id": HELPFUL_ACTION, "value": "helpful",
                 "text": {"type": "plain_text", "text": "👍 Helpful", "emoji": True}},
                {"type": "button", "action_id": NOT_HELPFUL_ACTION, "value": "not_helpful",
                 "text": {"type": "plain_text", "text": "👎 Not helpful", "emoji": True}},
            ],
        })
    return blocks


def fallback_text(reply: Reply) -> str:
    """The notification / screen-reader text of the final message (mrkdwn too: escaped)."""
    text = escape(reply.text or "(no answer)")
    sources = escape(reply.sources_text())
    return f"{text}\n\nSources:\n{sources}" if sources else text


class SlackReplyStream:
    """A `ReplyStream` posting into one channel (and thread) through the Web API."""

    def __init__(self, *, client: AsyncWebClient, channel: str, thread_ts: str | None,
                 placeholder_ts: str | None = None, heading: str | None = None,
                 min_interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.ts = placeholder_ts
        """The ts of the message being edited, once posted."""
        self._heading = heading
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._last_update = float("-inf")
        self.finished = False

    def _prefix(self, text: str) -> str:
        return f"{self._heading}\n{text}" if self._heading else text

    async def working(self) -> None:
        if self.ts is not None:
            return
        response = await self._client.chat_postMessage(
            channel=self.channel, thread_ts=self.thread_ts, text=self._prefix(WORKING_TEXT)
        )
        self.ts = response["ts"]
        self._last_update = self._clock()

    async def push(self, *, text_so_far: str, delta: str) -> None:
        now = self._clock()
        if self.ts is None or now - self._last_update < self._min_interval_s:
            return
        self._last_update = now
        try:
            await self._client.chat_update(channel=self.channel, ts=self.ts,
                                           text=self._prefix(to_mrkdwn(text_so_far) + CURSOR))
        except SlackApiError as exc:
            # A failed partial update is cosmetic; the final message still comes.
            log.warning("partial update failed: %s", exc.response.get("error"))

    async def finish(self, reply: Reply) -> None:
        await self._show(text=fallback_text(reply), blocks=reply_blocks(reply, heading=self._heading))

    async def fail(self, text: str) -> None:
        """End the working state with a plain message (errors outside the dispatcher)."""
        await self._show(text=self._prefix(text), blocks=None)

    async def _show(self, *, text: str, blocks: list[dict[str, Any]] | None) -> None:
        self.finished = True
        if self.ts is not None:
            try:
                await self._client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks or [])
                return
            except SlackApiError as exc:
                log.warning("final update failed (%s); posting a new message", exc.response.get("error"))
        response = await self._client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts,
                                                       text=text, blocks=blocks)
        self.ts = response["ts"]
