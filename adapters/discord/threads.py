"""Reading a Discord thread for the bot: `GET /channels/{thread}/messages` (through discord.py's
`history`) and the thread's starter message in, bounded `ThreadMessage`s out.

A thread is read when the bot is asked inside one (a mention, a reply to it, a follow-up in its own
thread), when "Summarize this thread" is used (`adapters.discord.summary_menu`) and when "Save to
knowledge" is (`adapters.discord.knowledge_menu`). As on Slack (`adapters.slack.threads`), its
messages are strangers' text, made plain (`clean_content`: mentions as names) and cut, and the thread
is bounded (`bot.threads.bound_thread`): its starter and the most recent replies, within a count and a
total size. The bot's own messages are left out: its answers are in its history already.

A thread started from a channel message has that message as its starter: it lives in the parent
channel under the thread's id. A forum post's starter is the thread's own first message, same id.

Without the privileged message content intent Discord sends other people's messages with empty text,
over REST as over the gateway: there is nothing to read, so the thread is not read at all.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import discord

from bot.core.values import ThreadMessage
from bot.threads import MAX_THREAD_MESSAGES, author_label, bound_thread, clean_message_text

log = logging.getLogger(__name__)

SCAN_LIMIT = 200
"""Messages looked at, at most, for the most recent replies of other people: two pages of Discord's 100
(the bot's own answers, joins and pins are among them and skipped)."""
READ_TIMEOUT_S = 10.0
"""How long an answer waits for the thread (discord.py waits out rate limits within it)."""

NOT_IN_A_THREAD = "There is no thread here to summarize: use this inside a thread, or on a message that started one."
WITHOUT_MESSAGE_CONTENT = ("I can't read this thread: I run without Discord's message content intent, so other "
                           "people's messages reach me empty.")
NOTHING_TO_SUMMARIZE = "I couldn't read anything to summarize in this thread."


def thread_message(message: discord.Message, *, bot_user_id: int | None) -> ThreadMessage | None:
    """A Discord message as a `ThreadMessage` (mentions as names: `clean_content`), or None for the bot's
    own messages, system messages (joins, pins, renames) and messages without words."""
    if bot_user_id is not None and message.author.id == bot_user_id:
        return None
    if message.is_system():
        return None
    text = clean_message_text(message.clean_content)
    if not text:
        return None
    return ThreadMessage(author=author_label(message.author.display_name, message.author.name, message.author.id),
                         text=text, at=message.created_at)


def thread_of(message: discord.Message) -> discord.Thread | None:
    """The thread `message` is in, or the one it started; None for a message outside any thread."""
    if isinstance(message.channel, discord.Thread):
        return message.channel
    return message.thread


async def starter_message(thread: discord.Thread) -> discord.Message | None:
    """The message the thread was started from (cached, or fetched), or None when it is gone or unreadable."""
    if thread.starter_message is not None:
        return thread.starter_message
    parent = thread.parent
    # A forum post's starter is in the thread itself; a channel thread's, in its channel.
    where: discord.abc.Messageable | None = thread if isinstance(parent, discord.ForumChannel) \
        else parent if isinstance(parent, discord.TextChannel) else None
    if where is None:
        return None
    try:
        return await where.fetch_message(thread.id)
    except discord.HTTPException:  # deleted, or not readable
        return None


async def read_thread(thread: discord.Thread, *, bot_user_id: int | None, before: discord.abc.Snowflake | None = None,
                      starter: discord.Message | None = None) -> tuple[ThreadMessage, ...]:
    """The thread's starter and the most recent of other people's messages said before `before` (when
    given: the question itself and what came after are not context), bounded, oldest first.

    `starter` saves a lookup when the caller has it. Raises `discord.HTTPException` as discord.py does
    (`Forbidden` where the bot may not read the thread).
    """
    root = starter or await starter_message(thread)
    recent: list[ThreadMessage] = []
    async for message in thread.history(limit=SCAN_LIMIT, before=before, oldest_first=False):
        if root is not None and message.id == root.id:
            continue  # a forum post's starter comes first in its thread too
        said = thread_message(message, bot_user_id=bot_user_id)
        if said is not None:
            recent.append(said)
            if len(recent) >= MAX_THREAD_MESSAGES:
                break  # enough: no need for the next page
    first = thread_message(root, bot_user_id=bot_user_id) if root is not None else None
    oldest_first = list(reversed(recent))
    if first is None and oldest_first:
        first, oldest_first = oldest_first[0], oldest_first[1:]
    return bound_thread(first, oldest_first)


async def thread_context(thread: discord.Thread, *, bot_user_id: int | None, message_content: bool,
                         before: discord.abc.Snowflake | None = None) -> tuple[ThreadMessage, ...]:
    """`read_thread`, or nothing when Discord would not say in time, refused, or sends no text (without the
    message content intent): the answer then goes on without the thread, and the log says why."""
    if not message_content:
        return ()  # other people's messages would all arrive empty
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            return await read_thread(thread, bot_user_id=bot_user_id, before=before)
    except discord.HTTPException as exc:  # Missing Access, Unknown Channel, a server error past the retries
        log.warning("could not read the thread: %s", exc)
    except (TimeoutError, aiohttp.ClientError) as exc:
        log.warning("could not read the thread: %s", type(exc).__name__)
    return ()


def why_unreadable(thread: discord.Thread | None, *, message_content: bool) -> str | None:
    """Why there is no thread to summarize here (none, or no way to read it), or None when it can be read."""
    if thread is None:
        return NOT_IN_A_THREAD
    return None if message_content else WITHOUT_MESSAGE_CONTENT
