"""The message context menu "Save to knowledge": a message, with its thread, stored as a document of its channel.

Used on a message in a thread, it saves the thread: its starter message and the most recent messages
(`bot.threads.bound_thread`). Used on a message in a channel, it saves that message and, if the message
started a thread, the thread's messages after it. The bot's own messages are left out. The document's
first line links to the thread (or the message), and the command service stores it as an upload
(`Commands.save_thread`): who may upload there may save, and saving again replaces the earlier copy.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import discord
from discord import app_commands

from adapters.discord import translate
from adapters.discord.commands import reply_text
from adapters.discord.stream import plain
from bot.core.ports import BotCore
from bot.core.values import ThreadMessage
from bot.core.visibility import upload_scope
from bot.threads import MAX_THREAD_MESSAGES, author_label, bound_thread, clean_message_text

log = logging.getLogger(__name__)

SAVE_TO_KNOWLEDGE = "Save to knowledge"


def thread_message(message: discord.Message, *, bot_user_id: int | None) -> ThreadMessage | None:
    """A Discord message as a `ThreadMessage` (mentions as names: `clean_content`), or None for the bot's
    own messages and messages without words."""
    if bot_user_id is not None and message.author.id == bot_user_id:
        return None
    text = clean_message_text(message.clean_content)
    if not text:
        return None
    return ThreadMessage(author=author_label(message.author.display_name, message.author.name, message.author.id),
                         text=text, at=message.created_at)


async def _starter(thread: discord.Thread) -> discord.Message | None:
    """The message a thread was started from (it lives in the parent channel, under the thread's id)."""
    if thread.starter_message is not None:
        return thread.starter_message
    if not isinstance(thread.parent, discord.TextChannel):
        return None  # a forum post's first message is in the thread itself
    try:
        return await thread.parent.fetch_message(thread.id)
    except discord.HTTPException:  # deleted, or not readable
        return None


async def _recent(channel: discord.Thread, *, after: discord.Message | None = None) -> list[discord.Message]:
    """The thread's most recent messages, oldest first."""
    newest_first = [m async for m in channel.history(limit=MAX_THREAD_MESSAGES, after=after, oldest_first=False)]
    return list(reversed(newest_first))


async def messages_to_save(message: discord.Message, *, bot_user_id: int | None) -> tuple[ThreadMessage, ...]:
    """The thread `message` is in (or starts), bounded; or just `message` outside any thread."""
    channel = message.channel
    if isinstance(channel, discord.Thread):
        root, replies = await _starter(channel), await _recent(channel)
    elif message.thread is not None:
        root, replies = message, await _recent(message.thread)
    else:
        root, replies = message, []
    said = [m for m in (thread_message(r, bot_user_id=bot_user_id) for r in replies if root is None or r.id != root.id)
            if m is not None]
    first = thread_message(root, bot_user_id=bot_user_id) if root is not None else None
    if first is None and said:
        first, said = said[0], said[1:]
    return bound_thread(first, said)


def save_menu(teambot: BotCore) -> app_commands.ContextMenu:
    """The "Save to knowledge" message context menu, bound to `teambot`; the adapter adds it to its tree."""

    async def save(interaction: discord.Interaction[Any], message: discord.Message) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        incoming = translate.interaction_message(interaction, text="")
        scope = upload_scope(incoming)
        refusal = teambot.commands.upload_refusal(scope=scope, actor=incoming.actor)
        if refusal is not None:  # refused before anything is read
            await reply_text(interaction, f"Can't save this: {refusal}.", ephemeral=True)
            return
        me = interaction.client.user.id if interaction.client.user else None
        try:
            said = await messages_to_save(message, bot_user_id=me)
        except discord.HTTPException as exc:  # no Read Message History here
            log.warning("could not read the thread to save: %s", exc)
            await reply_text(interaction, "I couldn't read this thread from Discord, so nothing was saved.",
                             ephemeral=True)
            return
        where = message.channel
        link = where.jump_url if isinstance(where, discord.Thread) else message.jump_url
        place = f"#{where.name}" if isinstance(where, (discord.Thread, discord.TextChannel)) else ""
        outcome = await teambot.commands.save_thread(replace(incoming, thread_messages=said), permalink=link,
                                                     place=place)
        whose = "the whole server's" if scope.channel == "*" else "this channel's"
        text = (f"Saved to {whose} knowledge:\n{outcome.line(plain)}" if outcome.result
                else f"Could not save this:\n{outcome.line(plain)}")
        await reply_text(interaction, text, ephemeral=True)

    return app_commands.ContextMenu(name=SAVE_TO_KNOWLEDGE, callback=save)
