"""How an answer appears in Discord: typing, rate-limited progressive edits, 2,000-char pieces, sources.

A `DiscordReplyStream` renders into a `Surface`: a channel (messages sent and
edited over REST) or an interaction (the deferred response, then followups).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

import discord

from adapters.discord.render import subtext, tables_readable
from adapters.discord.views import RunningAnswers, Stopper, no_buttons, stop_button
from bot.core.values import Citation, Reply

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
"""Discord refuses message content longer than this."""

_FENCE = re.compile(r"^\s*```")
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+")
_NO_MENTIONS = discord.AllowedMentions.none()


def plain(text: str) -> str:
    """`text` shown as typed: Markdown (bold, masked links, headings...) and mentions escaped.

    For everything the bot did not write itself: document names, sections, users' words echoed
    back. Messages also go out with no mentions allowed; escaping keeps a name from even looking
    like a ping or a link.
    """
    # One pass, one backslash per Markdown character: linear in the text (discord.py's own
    # `escape_markdown` runs regular expressions that are quadratic on runs of `<`, `[` or new lines,
    # and a 100 KB heading held the event loop for 26 s). Discord drops the backslash before any
    # punctuation, so the text reads exactly as typed.
    out: list[str] = []
    line_start = True
    for char in text:
        if char in _INLINE_MARKDOWN or (line_start and char in _LINE_START_MARKDOWN):
            out.append("\\")
        out.append(char)
        if char == "\n":
            line_start = True
        elif not char.isspace():
            line_start = False
    return "".join(out).replace("@everyone", "@\u200beveryone").replace("@here", "@\u200bhere")


_INLINE_MARKDOWN = frozenset("\\*_~`|[]<")
"""Emphasis, strike-through, code, spoilers, masked links (`[`), and `<@id>`, `<#id>`, `<t:…>` markup."""
_LINE_START_MARKDOWN = frozenset("#->")
"""Headings, subtext (`-#`), list items and quotes: Markdown only where a line starts."""


# --- splitting -----------------------------------------------------------------------------------------------


def _blocks(text: str) -> list[tuple[str, bool]]:
    """Paragraphs and whole fenced code blocks, in order: (text, is_code)."""
    blocks: list[tuple[str, bool]] = []
    prose: list[str] = []
    code: list[str] | None = None

    def flush_prose() -> None:
        paragraph = "\n".join(prose).strip("\n")
        if paragraph.strip():
            blocks.append((paragraph, False))
        prose.clear()

    for line in text.split("\n"):
        if code is not None:
            code.append(line)
            if _FENCE.match(line):
                blocks.append(("\n".join(code), True))
                code = None
        elif _FENCE.match(line):
            flush_prose()
            code = [line]
        elif not line.strip():
            flush_prose()
        else:
            prose.append(line)
    if code is not None:  # an unclosed fence (e.g. mid-stream): still one block
        blocks.append(("\n".join(code), True))
    flush_prose()
    return blocks


_MAX_FENCE_INFO = 40
"""The longest opening fence line (```` ``` ```` and its info string) repeated in every piece of a split block."""


def _split_code(block: str, limit: int) -> list[str]:
    """A code block too long for one message: cut between lines, closing and reopening the fence."""
    lines = block.split("\n")
    opening = lines[0].strip()
    body = lines[1:-1] if len(lines) > 1 and _FENCE.match(lines[-1]) else lines[1:]
    if len(opening) > _MAX_FENCE_INFO:
        # Not a language name (```python) but text on the fence line: repeating it in every piece
        # would leave no room (or less than none) for the code itself.
        body = [opening[3:], *body]
        opening = opening[:3]
    room = max(1, limit - len(opening) - len("\n\n```"))  # never a loop that cuts nothing
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in body:
        while len(line) > room:  # a single monster line: hard cut, nothing better exists
            if current:
                pieces.append("\n".join(current))
                current, size = [], 0
            pieces.append(line[:room])
            line = line[room:]
        if size + len(line) + 1 > room and current:
            pieces.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current or not pieces:
        pieces.append("\n".join(current))
    return [f"{opening}\n{piece}\n```" for piece in pieces]


def _split_prose(paragraph: str, limit: int) -> list[str]:
    """A paragraph too long for one message: cut after sentences, else between words, else anywhere."""
    units: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        if len(sentence) <= limit:
            units.append(sentence)
            continue
        # Runs of spaces give empty words: skipped, or a run of a million spaces is a million units.
        for word in filter(None, sentence.split(" ")):
            units.extend(word[i:i + limit] for i in range(0, len(word), limit))
    return _pack(units, limit=limit, joiner=" ")


def _pack(units: list[str], *, limit: int, joiner: str) -> list[str]:
    """Greedily join units (each within `limit`) into as few pieces of at most `limit` characters as possible."""
    pieces: list[str] = []
    # Lengths are added up and each piece joined once: building the piece unit by unit copies it
    # again for every unit, which is slow for a long answer made of many short units.
    current: list[str] = []
    size = 0
    for unit in units:
        if not current:
            if unit:
                current, size = [unit], len(unit)
        elif size + len(joiner) + len(unit) <= limit:
            current.append(unit)
            size += len(joiner) + len(unit)
        else:
            pieces.append(joiner.join(current))
            current, size = ([unit], len(unit)) if unit else ([], 0)
    if current:
        pieces.append(joiner.join(current))
    return pieces


def split_message(text: str, *, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split `text` into pieces of at most `limit` characters.

    Cuts fall between paragraphs, else between sentences; a fenced code block
    is never cut unless it alone exceeds the limit, and then each piece is a
    complete, re-fenced block.
    """
    if len(text) <= limit:
        return [text] if text.strip() else []
    units: list[str] = []
    for block, is_code in _blocks(text):
        if len(block) <= limit:
            units.append(block)
        elif is_code:
            units.extend(_split_code(block, limit))
        else:
            units.extend(_split_prose(block, limit))
    return _pack(units, limit=limit, joiner="\n\n")


def source_name(citation: Citation) -> str:
    """The document's name in bold, as a masked link `[**name**](<url>)` when it has a safe (http/https)
    URL: the angle brackets keep Discord from embedding a preview, and `safe_url` lets no `>` or space
    through that could end the link early."""
    name = f"**{plain(citation.source)}**"
    url = citation.link
    return f"[{name}](<{url}>)" if url else name


def sources_block(citations: tuple[Citation, ...], *, now: float | None = None) -> str:
    """The sources footer: one line per cited document (linked where its URL is known) with its page
    or section and how recently it changed."""
    if not citations:
        return ""
    moment = time.time() if now is None else now
    lines = []
    for c in citations:
        details = [plain(c.location)] if c.location else []
        if freshness := c.freshness(now=moment):
            details.append(freshness)
        lines.append(f"[{c.number}] {source_name(c)}" + (f" — {' · '.join(details)}" if details else ""))
    return "**Sources**\n" + "\n".join(lines)


def render_reply(reply: Reply) -> str:
    """The full text of a finished reply: the answer (tables made readable), then its sources as subtext."""
    text = tables_readable(reply.text.strip()) or (
        "Sorry, I couldn't answer." if reply.error else "I have no answer to that.")
    sources = sources_block(reply.citations)
    if reply.consulted_only:
        sources = (sources + "\n" if sources else "") + plain(reply.consulted_text())
    # Sources are small print under the answer (Discord's `-#` subtext), links and all.
    return f"{text}\n\n{subtext(sources)}" if sources else text


# --- where messages go ---------------------------------------------------------------------------------------


class Surface(Protocol):
    """Somewhere a reply can be posted as a sequence of messages."""

    async def typing(self) -> None:
        """Show the typing indicator (for about ten seconds)."""

    async def post(self, content: str, *, view: discord.ui.View | None = None) -> Any:
        """Send a new message (with `view`'s components); returns something `edit`/`delete` accept."""

    async def edit(self, handle: Any, content: str, *, view: discord.ui.View | None = None) -> None:
        """Replace the content of a posted message (and its components with `view`'s, when given)."""

    async def delete(self, handle: Any) -> None:
        """Remove a posted message."""

    def message_id(self, handle: Any) -> int | None:
        """The Discord id of a posted message (None if unknown)."""


def _with_view(view: discord.ui.View | None) -> dict[str, Any]:
    """`view=` only when there is one: discord.py takes an edit's `view=None` as "remove the components"."""
    return {"view": view} if view is not None else {}


class ChannelSurface:
    """A text channel, thread or DM: plain messages over REST."""

    def __init__(self, channel: discord.abc.Messageable) -> None:
        self.channel = channel

    async def typing(self) -> None:
        await self.channel.typing()

    async def post(self, content: str, *, view: discord.ui.View | None = None) -> discord.Message:
        return await self.channel.send(content, allowed_mentions=_NO_MENTIONS, **_with_view(view))

    async def edit(self, handle: discord.Message, content: str, *, view: discord.ui.View | None = None) -> None:
        await handle.edit(content=content, allowed_mentions=_NO_MENTIONS, **_with_view(view))

    async def delete(self, handle: discord.Message) -> None:
        await handle.delete()

    def message_id(self, handle: discord.Message) -> int | None:
        return handle.id


class InteractionSurface:
    """A deferred slash command: the first message is the original response, the rest are followups."""

    def __init__(self, interaction: discord.Interaction[Any]) -> None:
        self.interaction = interaction
        self._original_used = False
        self._original_id: int | None = None

    async def typing(self) -> None:
        # The deferred "is thinking…" state already shows that the bot is working.
        return None

    async def post(self, content: str, *, view: discord.ui.View | None = None) -> Any:
        if not self._original_used:
            self._original_used = True
            original = await self.interaction.edit_original_response(content=content, allowed_mentions=_NO_MENTIONS,
                                                                      **_with_view(view))
            self._original_id = original.id
            return None  # None names the original response
        return await self.interaction.followup.send(content, wait=True, allowed_mentions=_NO_MENTIONS,
                                                    **_with_view(view))

    async def edit(self, handle: Any, content: str, *, view: discord.ui.View | None = None) -> None:
        if handle is None:
            await self.interaction.edit_original_response(content=content, allowed_mentions=_NO_MENTIONS,
                                                          **_with_view(view))
        else:
            await handle.edit(content=content, allowed_mentions=_NO_MENTIONS, **_with_view(view))

    async def delete(self, handle: Any) -> None:
        if handle is None:
            await self.interaction.delete_original_response()
        else:
            await handle.delete()

    def message_id(self, handle: Any) -> int | None:
        return self._original_id if handle is None else handle.id


# --- the stream ------------------------------------------------------------------------------------------------


class DiscordReplyStream:
    """A `ReplyStream` that shows one answer on a `Surface`.

    Visible updates during streaming happen at most once per `min_interval_s`
    (Discord rate-limits edits; discord.py queues whatever still hits a limit).
    With a `stopper`, the first message has a Stop button while the answer is written
    (`adapters.discord.views`); the final edit takes it away.
    """

    def __init__(self, surface: Surface, *, min_interval_s: float = 1.0, typing_every_s: float = 8.0,
                 limit: int = MESSAGE_LIMIT, stopper: Stopper | None = None,
                 running: RunningAnswers | None = None,
                 feedback_view: Callable[[str], discord.ui.View] | None = None) -> None:
        self.surface = surface
        self._feedback_view = feedback_view
        """The 👍/👎 buttons for an answer id, put under the answer's last message."""
        self.stopper = stopper
        """Who may stop the answer, if it can be stopped: its first message then carries a Stop button."""
        self.running = running if stopper is not None else None
        """Where the Stop button's handler finds this answer by its message id."""
        self._stop_message: int | None = None
        """The id of the message showing the Stop button, while it does."""
        self.min_interval_s = min_interval_s
        self.typing_every_s = typing_every_s
        self.limit = limit
        self.pieces: list[str] = []
        """What each posted message currently shows."""
        self._handles: list[Any] = []
        self._last_render = 0.0
        self._typing: asyncio.Task[None] | None = None
        self._finished = False

    async def working(self) -> None:
        """Start the typing indicator, renewed until the first message appears."""
        self._typing = asyncio.create_task(self._keep_typing(), name="discord-typing")

    async def _keep_typing(self) -> None:
        while not self._handles:
            try:
                await self.surface.typing()
            except discord.HTTPException as exc:  # cosmetic: never fail an answer for it
                log.debug("typing indicator failed: %s", exc)
                return
            await asyncio.sleep(self.typing_every_s)

    async def _stop_typing(self) -> None:
        if self._typing is not None:
            self._typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._typing
            self._typing = None

    async def push(self, *, text_so_far: str, delta: str) -> None:
        """Show the partial answer, at most once per interval."""
        now = time.monotonic()
        if now - self._last_render < self.min_interval_s or not text_so_far.strip():
            return
        self._last_render = now
        await self._render(split_message(tables_readable(text_so_far) + " …", limit=self.limit))

    async def finish(self, reply: Reply) -> None:
        """Show the whole answer with its sources, split over as many messages as needed (no Stop any more)."""
        self._finished = True
        await self._stop_typing()
        view = None  # a stopped or failed answer has no 👍/👎 (and no answer id)
        if self._feedback_view is not None and reply.answer_id is not None and reply.mode != "error":
            view = self._feedback_view(reply.answer_id)
        try:
            await self._render(split_message(render_reply(reply), limit=self.limit), last_view=view)
        finally:
            self._forget_stop_button()  # even if the last edit failed: a later click says it no longer runs

    async def stop_requested(self) -> None:
        """`bot.core.ports.Stoppable`: return once the asker pressed Stop (never, for an answer without one)."""
        if self.stopper is None:
            await asyncio.Future()  # pending until the dispatcher cancels it
        else:
            await self.stopper.stop_requested()

    async def _render(self, pieces: list[str], *, last_view: discord.ui.View | None = None) -> None:
        """Make the posted messages show `pieces` (the last with `last_view`'s components): edit what changed,
        post what is new, drop the excess."""
        for index, piece in enumerate(pieces):
            view = last_view if index == len(pieces) - 1 else None
            if index < len(self._handles):
                if index == 0 and self._finished and self._stop_message is not None:
                    # The final edit of the first message also takes its Stop button away; when it is the
                    # answer's last message too, the 👍/👎 buttons take its place.
                    await self.surface.edit(self._handles[0], piece, view=view or no_buttons())
                    self._forget_stop_button()
                    self.pieces[0] = piece
                elif self.pieces[index] != piece or view is not None:
                    await self.surface.edit(self._handles[index], piece, view=view)
                    self.pieces[index] = piece
            else:
                with_stop = index == 0 and not self._finished and self.running is not None
                self._handles.append(await self.surface.post(piece, view=stop_button() if with_stop else view))
                self.pieces.append(piece)
                if with_stop:
                    self._show_stop_button(self.surface.message_id(self._handles[0]))
        while len(self._handles) > len(pieces):
            handle = self._handles.pop()
            self.pieces.pop()
            await self.surface.delete(handle)
        if self._handles:
            await self._stop_typing_soon()

    def _show_stop_button(self, message_id: int | None) -> None:
        if self.running is not None and self.stopper is not None and message_id is not None:
            self._stop_message = message_id
            self.running.add(message_id, self.stopper)

    def _forget_stop_button(self) -> None:
        if self.running is not None and self._stop_message is not None:
            self.running.discard(self._stop_message)
        self._stop_message = None

    async def _stop_typing_soon(self) -> None:
        # Posting a message ends Discord's typing indicator; stop renewing it.
        if self._typing is not None and not self._typing.done():
            self._typing.cancel()
