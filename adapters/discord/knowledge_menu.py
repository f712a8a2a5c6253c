"""The message context menu "Save to knowledge": a message, with its thread, stored as a document of its channel.

Used on a message in a thread, it saves the thread: its starter message and the most recent messages
(`adapters.discord.threads`). Used on a message in a channel, it saves that message and, if the message
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
from adapters.discord.threads import read_thread, thread_message, thread_of
from bot.core.ports import BotCore
from bot.core.values import ThreadMessage
from bot.core.visibility import upload_scope

log = logging.getLogger(__name__)

SAVE_TO_KNOWLEDGE = "Save to knowledge"


async def messages_to_save(message: discord.Message, *, bot_user_id: int | None) -> tuple[ThreadMessage, ...]:
    """The thread `message` is in (or starts), bounded (`adapters.discord.threads.read_thread`); or just
    `message` outside any thread."""
    thread = thread_of(message)
    if thread is None:
        said = thread_message(message, bot_user_id=bot_user_id)
        return (said,) if said is not None else ()
    # A channel message that started the thread is its starter: no need to look it up.
    starter = None if isinstance(message.channel, discord.Thread) else message
    return await read_thread(thread, bot_user_id=bot_user_id, starter=starter)


ONLY_THIS_MESSAGE = ("Only this message was saved: I run without Discord's message content intent, so the rest "
                     "of the thread reaches me empty.")


def save_menu(teambot: BotCore, *, message_content: bool = True) -> app_commands.ContextMenu:
    """The "Save to knowledge" message context menu, bound to `teambot`; the adapter adds it to its tree.

    Without the message content intent (`message_content` False) the thread's other messages would
    arrive empty, but Discord still sends the text of the message the menu was used on: that one is saved.
    """

    async def save(interaction: discord.Interaction[Any], message: discord.Message) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        incoming = translate.interaction_message(interaction, text="")
        scope = upload_scope(incoming)
        refusal = teambot.commands.upload_refusal(scope=scope, actor=incoming.actor)
        if refusal is not None:  # refused before anything is read
            await reply_text(interaction, f"Can't save this: {refusal}.", ephemeral=True)
            return
        me = interaction.client.user.id if interaction.client.user else None
        alone = not message_content and thread_of(message) is not None
        try:
            if alone:
                only = thread_message(message, bot_user_id=me)
                said: tuple[ThreadMessage, ...] = (only,) if only is not None else ()
            else:
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
        if outcome.result and alone:
            text += "\n" + ONLY_THIS_MESSAGE
        await reply_text(interaction, text, ephemeral=True)

    return app_commands.ContextMenu(name=SAVE_TO_KNOWLEDGE, callback=save)
