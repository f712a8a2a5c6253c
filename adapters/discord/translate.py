"""Discord objects in, `IncomingMessage` out: the only place that knows Discord's shapes.

Everything here is pure: no network, no Redis. The adapter looks up what
needs I/O (which thread the bot owns, the downloaded attachment bytes) and
passes it in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import discord

from bot.core.values import Attachment, IncomingMessage, Visibility

PLATFORM = "discord"

DM_WORKSPACE = "dm"
"""Workspace of direct messages: they belong to no guild."""

_MENTION = r"<@!?{id}>"


@dataclass(frozen=True, slots=True)
class Where:
    """Where a message sits and what the bot should do with it.

    `action`:
      - `ignore`: not for the bot (another bot, itself, a channel chat without a mention);
      - `answer_here`: answer in the message's own channel (a DM or a thread);
      - `open_thread`: start a thread from the message and answer there.
    """

    action: Literal["ignore", "answer_here", "open_thread"]
    workspace: str = ""
    channel: str = ""
    """The knowledge channel: a thread's parent, or the DM channel."""
    thread: str = ""
    """The conversation: the thread id, or the DM channel id (empty until a thread is opened)."""
    is_dm: bool = False
    mentions_bot: bool = False


def mentions_user(message: discord.Message, user_id: int) -> bool:
    """True when the message @-mentions `user_id` directly (not @everyone or a role)."""
    return any(user.id == user_id for user in message.mentions) or user_id in message.raw_mentions


def replies_to_user(message: discord.Message, user_id: int) -> bool:
    """True when the message is a reply to one of `user_id`'s messages (with or without a ping)."""
    replied = message.reference.resolved if message.reference is not None else None
    return isinstance(replied, discord.Message) and replied.author.id == user_id


def strip_mention(text: str, user_id: int) -> str:
    """The text without the bot's own mention tokens, whitespace tidied."""
    return re.sub(_MENTION.format(id=user_id), " ", text).strip()


def locate(message: discord.Message, *, bot_user_id: int, owned_thread_parent: str | None) -> Where:
    """Decide what to do with a gateway message.

    `owned_thread_parent` is the parent channel id when the message is in a
    thread the bot owns (the adapter knows from Redis or the thread's owner).
    """
    author = message.author
    if author.bot or author.id == bot_user_id:
        return Where("ignore")
    # A reply to one of the bot's answers is addressed to it, even with the reply's ping turned off.
    mentioned = mentions_user(message, bot_user_id) or replies_to_user(message, bot_user_id)
    channel = message.channel
    if message.guild is None:
        return Where("answer_here", workspace=DM_WORKSPACE, channel=str(channel.id), thread=str(channel.id),
                     is_dm=True, mentions_bot=mentioned)
    workspace = str(message.guild.id)
    if isinstance(channel, discord.Thread) or owned_thread_parent is not None:
        parent = owned_thread_parent or str(getattr(channel, "parent_id", None) or channel.id)
        if owned_thread_parent is None and not mentioned:
            return Where("ignore")
        return Where("answer_here", workspace=workspace, channel=parent, thread=str(channel.id),
                     mentions_bot=mentioned)
    if not mentioned:
        return Where("ignore")
    return Where("open_thread", workspace=workspace, channel=str(channel.id), mentions_bot=True)


def channel_visibility(channel: object) -> Visibility:
    """Who can read `channel`: DMs and private threads are private; a server channel (or a public
    thread's parent) is public when @everyone may view it, private when not; `unknown` when the
    cache can't tell (a partial channel)."""
    if isinstance(channel, (discord.DMChannel, discord.GroupChannel)):
        return "private"
    if isinstance(channel, discord.Thread):
        if channel.type == discord.ChannelType.private_thread:
            return "private_thread"
        channel = channel.parent
    if not isinstance(channel, discord.abc.GuildChannel):
        return "unknown"
    # Typed as always there, but a partial cache has no @everyone role.
    everyone: discord.Role | None = channel.guild.default_role
    if everyone is None:
        return "unknown"
    try:
        return "public" if channel.permissions_for(everyone).view_channel else "private"
    except Exception:  # noqa: BLE001 - an incomplete cache must not stop an answer; unknown counts as private
        return "unknown"


def attachment_stub(attachment: discord.Attachment) -> Attachment:
    """The platform-free description of a Discord attachment, before download."""
    return Attachment(name=attachment.filename, url=attachment.url, size=attachment.size,
                      mime_type=attachment.content_type)


def member_roles(author: object) -> tuple[str, ...]:
    """Role ids and names of a guild member (for permissions); none for users outside a guild."""
    roles = [r for r in getattr(author, "roles", None) or () if not r.is_default()]
    return tuple(dict.fromkeys([*(str(r.id) for r in roles), *(r.name for r in roles)]))


def incoming_message(message: discord.Message, where: Where, *, bot_user_id: int, thread: str | None = None,
                     attachments: tuple[Attachment, ...] = ()) -> IncomingMessage:
    """The normalized message; `thread` overrides `where.thread` once a thread was opened."""
    return IncomingMessage(
        platform=PLATFORM,
        workspace=where.workspace,
        channel=where.channel,
        thread=thread or where.thread,
        user=str(message.author.id),
        text=strip_mention(message.content, bot_user_id),
        attachments=attachments,
        is_dm=where.is_dm,
        mentions_bot=where.mentions_bot,
        event_id=str(message.id),
        roles=member_roles(message.author),
        visibility="private" if where.is_dm else channel_visibility(message.channel),
        workspace_is_real=not where.is_dm,  # every DM is in the shared DM_WORKSPACE
    )


def interaction_where(interaction: discord.Interaction[Any]) -> Where:
    """Where a slash command was used: its channel's knowledge, the thread's conversation if any.

    Outside a thread each `/ask` is its own conversation, named after the interaction.
    """
    channel = interaction.channel
    channel_id = interaction.channel_id or 0
    if interaction.guild_id is None:
        return Where("answer_here", workspace=DM_WORKSPACE, channel=str(channel_id), thread=str(channel_id),
                     is_dm=True, mentions_bot=True)
    workspace = str(interaction.guild_id)
    if isinstance(channel, discord.Thread) and channel.parent_id is not None:
        return Where("answer_here", workspace=workspace, channel=str(channel.parent_id), thread=str(channel.id),
                     mentions_bot=True)
    return Where("answer_here", workspace=workspace, channel=str(channel_id), thread=f"ask-{interaction.id}",
                 mentions_bot=True)


def in_thread(interaction: discord.Interaction[Any]) -> bool:
    """True when the command was used inside a thread."""
    return isinstance(interaction.channel, discord.Thread)


def interaction_message(interaction: discord.Interaction[Any], *, text: str,
                        attachments: tuple[Attachment, ...] = ()) -> IncomingMessage:
    """A slash command as a normalized message."""
    where = interaction_where(interaction)
    return IncomingMessage(
        platform=PLATFORM, workspace=where.workspace, channel=where.channel, thread=where.thread,
        user=str(interaction.user.id), text=text.strip(), attachments=attachments, is_dm=where.is_dm,
        mentions_bot=True, event_id=str(interaction.id), roles=member_roles(interaction.user),
        visibility="private" if where.is_dm else channel_visibility(interaction.channel),
        workspace_is_real=not where.is_dm,  # every DM is in the shared DM_WORKSPACE
    )


def thread_name(text: str, *, limit: int = 90) -> str:
    """A thread title from the question: first line, shortened on a word boundary."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "") or "Question"
    if len(first) <= limit:
        return first
    cut = first[:limit].rsplit(" ", 1)[0] or first[:limit]
    return cut + "…"
