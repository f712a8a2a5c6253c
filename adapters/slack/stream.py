"""How one answer appears in Slack: progress while the agent works, the answer as it is written,
one tidy final message with its sources and feedback buttons, and a Stop button until then.

Two ways, chosen per answer:

- **Native streaming** (a reply in a thread, on a workspace that allows it): Slack's text stream
  (`chat.startStream` / `appendStream` / `stopStream` through the SDK's `chat_stream`). In a
  channel thread the stream opens at once, the agent's steps shown as task updates above the text;
  in a DM (the app's agent/assistant thread) the steps are the thread's loading status
  (`assistant.threads.setStatus`) and the stream opens with the first words.
- **Edits** (top-level `/ask` answers, and wherever Slack refuses streaming: free workspaces,
  missing scopes, rate limits, a stream Slack closed): a placeholder at once, `chat.update` at most
  once per interval (Slack allows about one a second per channel).

Either way the answer ends with one `chat.update` to the final blocks (a `markdown` block, sources,
`feedback_buttons`), which also takes the Stop button and the step list away; if that fails, the
final message is posted fresh, so a "working" message is never left hanging.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import (  # noqa: F401 - re-exported: the stream's shape is tested from here
    CURSOR,
    MAX_SOURCES,
    SECTION_LIMIT,
    WORKING_STATUS,
    WORKING_TEXT,
    fallback_text,
    feedback_block,
    heading_blocks,
    partial_blocks,
    reply_blocks,
    source_blocks,
    stop_block,
    working_blocks,
)
from adapters.slack.mrkdwn import escape
from bot.core.values import Reply

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = frozenset({"ratelimited", "rate_limited", "service_unavailable", "fatal_error",
                              "internal_error", "request_timeout"})
"""Slack errors that say nothing about whether streaming works here: this answer uses edits, the next tries again."""
STATUS_TASK_PREFIX = "teambot-step-"
STREAM_FAILURES = (SlackApiError, SlackClientError, aiohttp.ClientError, asyncio.TimeoutError)
"""What a stream call can fail with: Slack's refusal, the SDK's own checks, the network."""


def _error_of(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or "unknown")
    return type(exc).__name__


class StreamingAvailability:
    """Where Slack refused native streaming lately, so the next answers there go straight to edits.

    A workspace on a plan without it, a channel type it does not support or a missing scope answer
    the same way for a while: one refused `chat.startStream` per channel and `ttl_s`, not one per answer.
    """

    def __init__(self, *, ttl_s: float = 3600.0, max_entries: int = 2000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._refused: OrderedDict[tuple[str, str], float] = OrderedDict()

    def allows(self, workspace: str, channel: str) -> bool:
        refused_at = self._refused.get((workspace, channel))
        return refused_at is None or self._clock() - refused_at >= self._ttl_s

    def refused(self, workspace: str, channel: str, error: str) -> None:
        """Slack answered `error` to a stream here; transient errors are not held against the channel."""
        if error in TRANSIENT_ERRORS:
            return
        self._refused[(workspace, channel)] = self._clock()
        self._refused.move_to_end((workspace, channel))
        while len(self._refused) > self._max_entries:
            self._refused.popitem(last=False)


@dataclass(frozen=True, slots=True)
class NativeStreaming:
    """What a native stream needs: its recipient (Slack requires one outside DMs) and where refusals go."""

    workspace: str
    user: str
    in_dm: bool
    """A DM with the app (its agent/assistant thread): progress is the thread's loading status."""
    availability: StreamingAvailability


class SlackReplyStream:
    """A `ReplyStream` (with progress and Stop) posting into one channel (and thread) through the Web API."""

    def __init__(self, *, client: AsyncWebClient, channel: str, thread_ts: str | None,
                 placeholder_ts: str | None = None, heading: str | None = None, asker: str | None = None,
                 native: NativeStreaming | None = None,
                 min_interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.ts = placeholder_ts
        """The ts of the message being written, once there is one."""
        self.asker = asker
        """Who may stop the answer (None: anyone)."""
        self._heading = heading
        # Slack streams only replies in threads.
        self._native = native if native is not None and thread_ts is not None else None
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._last_update = float("-inf")
        self._chat_stream: AsyncChatStream | None = None
        self._handed = ""
        """The answer's Markdown handed to the stream so far (unescaped)."""
        self._pending = ""
        """Text written but not handed to the stream yet (it is sent at most once per interval)."""
        self._steps = 0
        self._step_title: str | None = None
        """The step shown in the stream as in progress, if any."""
        self._status = WORKING_TEXT
        """The placeholder's line (mrkdwn) when editing."""
        self._shown_status: str | None = None
        self._thread_status_shown = True
        """False once Slack refused the DM's loading status (no agent view, or a free plan)."""
        self._stop = asyncio.Event()
        self.stopped_by: str | None = None
        self.finished = False

    @property
    def streaming(self) -> bool:
        """True while the answer goes through Slack's text stream (False: placeholder and edits)."""
        return self._native is not None

    def _prefix(self, text: str) -> str:
        return f"{self._heading}\n{text}" if self._heading else text

    # --- ReplyStream ----------------------------------------------------------------------

    async def working(self) -> None:
        if self.ts is not None:
            return
        if self._native is not None:
            if self._native.in_dm and await self._set_thread_status(WORKING_STATUS):
                return
            # The steps follow as task updates (`status`); the stream opens with the Stop button. So
            # too in a DM whose loading status Slack refuses: the asker must see at once that it works.
            if await self._open_stream([]):
                return
        await self._post_placeholder()

    async def status(self, text: str) -> None:
        """Show what the agent does now: a task update in the stream, the thread's status, or the placeholder."""
        if self.finished or text == self._shown_status:
            return
        self._shown_status = text
        if self._native is not None:
            if self._chat_stream is None and self._native.in_dm and self._thread_status_shown:
                await self._set_thread_status(text)
            elif self._chat_stream is not None:
                chunks = []
                if self._step_title is not None:
                    chunks.append(self._task_chunk("complete"))
                    self._steps += 1
                self._step_title = text
                await self._append(chunks=[*chunks, self._task_chunk("in_progress")])
            return
        self._status = f"_{escape(text)}…_"
        now = self._clock()
        if self.ts is None or now - self._last_update < self._min_interval_s:
            return
        self._last_update = now
        await self._edit(text=self._prefix(self._status), blocks=working_blocks(self._status, heading=self._heading))

    async def push(self, *, text_so_far: str, delta: str) -> None:
        if self.finished:
            return
        if self._native is not None:
            self._pending += delta
            if self._chat_stream is not None or await self._open_stream([]):
                now = self._clock()
                if now - self._last_update >= self._min_interval_s and self._pending:
                    self._last_update = now
                    piece, self._pending = self._pending, ""
                    self._handed += piece
                    await self._append(markdown_text=escape(piece))
                return
            await self._post_placeholder()  # refused: edits from here on
        now = self._clock()
        if self.ts is None or now - self._last_update < self._min_interval_s:
            return
        self._last_update = now
        await self._edit(text=self._prefix(escape(text_so_far) + CURSOR),
                         blocks=[*heading_blocks(self._heading), *partial_blocks(text_so_far), stop_block()])

    async def finish(self, reply: Reply) -> None:
        if self._chat_stream is not None:
            await self._close_stream(reply)
        # In a thread: an answer too long for a markdown block goes through the mrkdwn converter, pure
        # Python that can take a noticeable part of a second on a long table; the event loop must not wait.
        blocks = await asyncio.to_thread(reply_blocks, reply, heading=self._heading)
        await self._show(text=fallback_text(reply), blocks=blocks)

    async def fail(self, text: str) -> None:
        """End the working state with a plain message (errors outside the dispatcher)."""
        if self._chat_stream is not None:
            await self._close_stream(None)
        await self._show(text=self._prefix(text), blocks=None)

    # --- Stoppable ------------------------------------------------------------------------

    async def stop_requested(self) -> None:
        await self._stop.wait()

    def request_stop(self, *, by: str) -> None:
        """The reader clicked Stop: the dispatcher ends the answer with what was written."""
        self.stopped_by = by
        self._stop.set()

    # --- native streaming -------------------------------------------------------------------

    def _task_chunk(self, status: str) -> dict[str, Any]:
        """The current step as a task update (the same id again updates it in place)."""
        return {"type": "task_update", "id": f"{STATUS_TASK_PREFIX}{self._steps}", "title": self._step_title,
                "status": status}

    async def _open_stream(self, chunks: list[dict[str, Any]]) -> bool:
        """Start the stream with `chunks` and the Stop button; False (and edits from now on) if Slack refuses."""
        native = self._native
        assert native is not None and self.thread_ts is not None
        stream = await self._client.chat_stream(
            channel=self.channel, thread_ts=self.thread_ts, buffer_size=1,
            recipient_team_id=native.workspace, recipient_user_id=native.user,
        )
        try:
            response = await stream.append(chunks=[*chunks, {"type": "blocks", "blocks": [stop_block()]}])
        except STREAM_FAILURES as exc:
            error = _error_of(exc)
            log.info("native streaming refused; editing a placeholder instead", extra={"error": error})
            if isinstance(exc, SlackApiError):
                native.availability.refused(native.workspace, self.channel, error)
            await self._give_up_streaming(None)
            return False
        self._chat_stream = stream
        self.ts = str(response["ts"]) if response is not None and response.get("ts") else stream.ts
        self._last_update = self._clock()
        return True

    async def _append(self, **content: Any) -> None:
        assert self._chat_stream is not None
        try:
            await self._chat_stream.append(**content)
        except STREAM_FAILURES as exc:
            error = _error_of(exc)
            if error in TRANSIENT_ERRORS:
                # The SDK keeps undelivered text for the next append; the step list is decoration.
                log.warning("stream update skipped", extra={"error": error})
                return
            # Closed by Slack (it ends streams after a few minutes) or refused: edits from here on.
            log.warning("the stream broke; editing the message instead", extra={"error": error})
            await self._give_up_streaming(error)

    async def _give_up_streaming(self, error: str | None) -> None:
        """Continue with edits: of the streamed message if there is one (stopped first), else of a new placeholder."""
        stream, self._chat_stream, self._native = self._chat_stream, None, None
        self._pending = ""
        if stream is not None and error != "message_not_in_streaming_state":
            try:
                await stream.stop()
            except STREAM_FAILURES as exc:
                log.info("could not stop the broken stream", extra={"error": _error_of(exc)})

    async def _close_stream(self, reply: Reply | None) -> None:
        """Stop the stream with the rest of the answer, its sources and feedback (the final edit follows)."""
        stream = self._chat_stream
        assert stream is not None
        self._chat_stream = None
        chunks: list[dict[str, Any]] = [self._task_chunk("complete")] if self._step_title is not None else []
        blocks = None
        if reply is not None:
            rest = _rest_of(reply.text, self._handed)
            if rest:
                chunks.append({"type": "markdown_text", "text": escape(rest)})
            blocks = source_blocks(reply) + ([feedback_block(reply.answer_id)] if reply.mode != "error" else [])
        try:
            await stream.stop(chunks=chunks or None, blocks=blocks or None)
        except STREAM_FAILURES as exc:
            log.warning("could not stop the stream", extra={"error": _error_of(exc)})

    async def _set_thread_status(self, text: str) -> bool:
        """The loading status under the thread (Slack clears it when the app replies); False if refused."""
        assert self.thread_ts is not None
        try:
            await self._client.assistant_threads_setStatus(channel_id=self.channel, thread_ts=self.thread_ts,
                                                           status=f"{text}…")
        except STREAM_FAILURES as exc:
            log.info("thread status not shown", extra={"error": _error_of(exc)})
            self._thread_status_shown = False
            return False
        return True

    # --- edits --------------------------------------------------------------------------------

    async def _post_placeholder(self) -> None:
        response = await self._client.chat_postMessage(
            channel=self.channel, thread_ts=self.thread_ts, text=self._prefix(WORKING_TEXT),
            blocks=working_blocks(self._status, heading=self._heading),
        )
        self.ts = response["ts"]
        self._last_update = self._clock()

    async def _edit(self, *, text: str, blocks: list[dict[str, Any]]) -> None:
        if self.ts is None:
            await self._post_placeholder()
        assert self.ts is not None
        try:
            await self._client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks)
        except SlackApiError as exc:
            # A failed partial update is cosmetic; the final message still comes.
            log.warning("partial update failed: %s", exc.response.get("error"))

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


def _rest_of(final: str, streamed: str) -> str:
    """What of the final answer the stream has not shown yet ("" when the stream went another way:
    the final edit shows the answer whole either way)."""
    if final.startswith(streamed):
        return final[len(streamed):]
    if final.startswith(streamed.lstrip()):
        return final[len(streamed.lstrip()):]
    return ""
