""""Summarize this thread" on Discord: the `/summarize` slash command (inside a thread) and the message
context menu of the same name (on a message in a thread, or on the message that started one).

Both read the thread (`adapters.discord.threads`) and hand it to the command service's
`summarize_thread`, the same service as Slack's shortcut (`agent.summary`): the summary answers from the
thread alone, in public, as the interaction's response. Where there is no thread, or nothing can be
read, the user alone is told why in one line.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import discord
from discord import app_commands

from adapters.discord import translate
from adapters.discord.commands import StreamFactory, reply_text
from adapters.discord.stream import InteractionSurface
from adapters.discord.threads import NOT_IN_A_THREAD, NOTHING_TO_SUMMARIZE, thread_context, thread_of, why_unreadable
from bot.core.ports import BotCore

SUMMARIZE_COMMAND = "summarize"
SUMMARIZE_THIS_THREAD = "Summarize this thread"


def summarize_commands(teambot: BotCore, *, stream_factory: StreamFactory, message_content: bool
                       ) -> list[app_commands.Command[Any, Any, Any] | app_commands.ContextMenu]:
    """`/summarize` and the "Summarize this thread" context menu, bound to `teambot`; the adapter adds them
    to its tree. `message_content`: whether the bot has the intent to read other people's messages."""

    async def summarize_in(interaction: discord.Interaction[Any], thread: discord.Thread | None) -> None:
        refusal = why_unreadable(thread, message_content=message_content)
        if refusal is not None or thread is None:  # nothing to read: said at once, to the user alone
            await interaction.response.send_message(refusal or NOT_IN_A_THREAD, ephemeral=True)
            return
        await interaction.response.defer(thinking=True)  # reading a long thread may take past Discord's 3 s
        me = interaction.client.user.id if interaction.client.user is not None else None
        said = await thread_context(thread, bot_user_id=me, message_content=message_content)
        if not said:  # refused, timed out, or only the bot's own messages
            await reply_text(interaction, NOTHING_TO_SUMMARIZE)
            return
        message = replace(translate.interaction_message(interaction, text=""), thread_messages=said)
        await teambot.commands.summarize_thread(message, stream_factory(InteractionSurface(interaction)))

    # Servers only: a DM has no threads.
    @app_commands.command(name=SUMMARIZE_COMMAND, description="Summarize this thread (use it inside a thread).")
    @app_commands.guild_only()
    async def summarize(interaction: discord.Interaction[Any]) -> None:
        channel = interaction.channel
        await summarize_in(interaction, channel if isinstance(channel, discord.Thread) else None)

    async def summarize_message(interaction: discord.Interaction[Any], message: discord.Message) -> None:
        await summarize_in(interaction, thread_of(message))

    menu = app_commands.guild_only(app_commands.ContextMenu(name=SUMMARIZE_THIS_THREAD, callback=summarize_message))
    return [summarize, menu]
