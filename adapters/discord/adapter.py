"""The Discord adapter: a discord.py client wired to the teambot core.

    adapter = DiscordAdapter(teambot, token=...)
    async with adapter:          # logs in, syncs slash commands
        await adapter.run()      # gateway connection until cancelled
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import discord
from discord import app_commands

from adapters.base import Adapter
from adapters.discord import threads, translate
from adapters.discord.commands import build_commands, upload_attachments
from adapters.discord.feedback import FeedbackButtons
from adapters.discord.knowledge_menu import save_menu
from adapters.discord.reports import channel_server, send_report
from adapters.discord.stream import ChannelSurface, DiscordReplyStream, InteractionSurface, plain, split_message
from adapters.discord.summary_menu import summarize_commands
from adapters.discord.views import AnswerControls, RunningAnswers, Stopper
from bot.commands import outcomes_text
from bot.core.ports import BotCore
from bot.core.values import IncomingMessage, Report
from bot.core.visibility import upload_scope
from bot.feedback import ALREADY_RATED, REASON_CHOICES, REASON_PROMPT, THANKS, is_reason, reason_thanks
from bot.threads import asks_for_summary

log = logging.getLogger(__name__)

THREAD_TTL_S = 90 * 24 * 3600
"""How long the bot remembers that it owns a thread (refreshed on every answer)."""
MESSAGE_CLAIM_TTL_S = 24 * 3600
"""How long a message stays claimed by the replica that answers it."""


def intents(*, message_content: bool = True) -> discord.Intents:
    """Guilds, guild and DM messages, and (unless `message_content` is False) the privileged message content
    intent, which lets the bot read follow-ups in its threads that do not mention it.

    Without it Discord still sends the text of DMs, of messages that mention the bot and of replies to
    its messages; other messages arrive with empty text (and no attachments).
    """
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.message_content = message_content
    return wanted


class TeambotClient(discord.Client):
    """A discord.py client whose event handlers are given, not defined by decorators at import."""

    def __init__(self, *, on_message: Callable[[discord.Message], Awaitable[None]],
                 setup: Callable[[TeambotClient], Awaitable[None]], message_content: bool = True,
                 **options: Any) -> None:
        # No message of the bot pings anyone unless a send says otherwise.
        super().__init__(intents=intents(message_content=message_content),
                         allowed_mentions=discord.AllowedMentions.none(), **options)
        self.tree = app_commands.CommandTree(self)
        self._on_message = on_message
        self._setup = setup

    async def setup_hook(self) -> None:
        await self._setup(self)

    async def on_message(self, message: discord.Message) -> None:
        await self._on_message(message)


class DiscordAdapter(Adapter):
    """Answers mentions in threads it opens, follow-ups in its threads, DMs and slash commands."""

    platform = translate.PLATFORM

    def __init__(self, teambot: BotCore, *, token: str, guild_ids: list[int] | None = None,
                 edit_interval_s: float = 1.0, message_content: bool = True) -> None:
        self.teambot = teambot
        self.message_content = message_content
        """Whether the bot reads every message it receives (the privileged intent) or only those Discord
        shows it without: mentions, replies to it and DMs."""
        self.token = token
        self.guild_ids = list(guild_ids or [])
        self.edit_interval_s = edit_interval_s
        self.client: TeambotClient | None = None
        self.feedback = FeedbackButtons(self)
        self.running = RunningAnswers()
        """Answers being written now, found by the message that shows their Stop button."""

    # --- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in and sync the slash commands; the gateway connects in `run`."""
        self.client = TeambotClient(on_message=self.on_message, setup=self._setup,
                                    message_content=self.message_content)
        try:
            await self.client.login(self.token)
        except BaseException:
            await self.stop()
            raise

    async def run(self) -> None:
        """Hold the gateway connection (discord.py reconnects) until cancelled."""
        assert self.client is not None, "start() first"
        await self.client.connect(reconnect=True)

    async def stop(self) -> None:
        """Close the client."""
        if self.client is not None:
            await self.client.close()

    async def _setup(self, client: TeambotClient) -> None:
        """Register the answer buttons and the slash commands, and sync the commands: per guild (instant) or
        globally (slow to appear)."""
        # Persistent: buttons of messages posted before a restart reach this handler too.
        client.add_view(AnswerControls(self.running))
        for command in build_commands(self.teambot, stream_factory=self._interaction_stream):
            client.tree.add_command(command)
        client.tree.add_command(save_menu(self.teambot, message_content=self.message_content))
        for command in summarize_commands(self.teambot, stream_factory=self._interaction_stream,
                                          message_content=self.message_content):
            client.tree.add_command(command)
        self.feedback.register(client)  # buttons of answers sent before a restart still work
        try:
            if self.guild_ids:
                for guild_id in self.guild_ids:
                    guild = discord.Object(id=guild_id)
                    client.tree.copy_global_to(guild=guild)
                    await client.tree.sync(guild=guild)
            else:
                await client.tree.sync()
        except discord.HTTPException as exc:
            # Missing `applications.commands` scope or a wrong guild id: mentions and DMs still work.
            log.warning("could not sync slash commands: %s", exc)

    def _stream(self, surface: ChannelSurface | InteractionSurface, *, asker: str) -> DiscordReplyStream:
        """A stream for one answer, which `asker` (a user id) can stop; its last message gets 👍/👎."""
        return DiscordReplyStream(surface, min_interval_s=self.edit_interval_s, stopper=Stopper(asker=asker),
                                  running=self.running, feedback_view=self.feedback.vote_view)

    def _interaction_stream(self, surface: InteractionSurface) -> DiscordReplyStream:
        return self._stream(surface, asker=str(surface.interaction.user.id))

    # --- feedback buttons (adapters.discord.feedback.FeedbackHandler) --------------------------------------

    async def on_vote(self, interaction: discord.Interaction[Any], *, answer_id: str, helpful: bool) -> None:
        """👍/👎 under an answer: counted once per person, stored with the answer; a 👎 is asked what was wrong."""
        place = translate.interaction_message(interaction, text="")
        message_id = interaction.message.id if interaction.message is not None else answer_id
        if not await self.teambot.claims.claim(translate.PLATFORM, f"feedback:{message_id}:{place.user}",
                                               ttl_s=THREAD_TTL_S):
            await interaction.response.send_message(ALREADY_RATED, ephemeral=True)
            return
        vote = await self.teambot.commands.record_feedback(
            platform=translate.PLATFORM, helpful=helpful, workspace=place.workspace, user=place.user,
            answer_id=answer_id, link=interaction.message.jump_url if interaction.message is not None else None)
        if vote is None or helpful:
            await interaction.response.send_message(THANKS, ephemeral=True)
            return
        await interaction.response.send_message(REASON_PROMPT, ephemeral=True,
                                                view=self.feedback.reason_view(answer_id, REASON_CHOICES))

    async def on_reason(self, interaction: discord.Interaction[Any], *, answer_id: str, reason: str) -> None:
        """The reason a 👎 voter picked: stored with their vote; the choice is replaced by a thanks."""
        if not is_reason(reason):
            await interaction.response.edit_message(content=THANKS, view=None)
            return
        place = translate.interaction_message(interaction, text="")
        vote = await self.teambot.commands.feedback_reason(platform=translate.PLATFORM, workspace=place.workspace,
                                                           user=place.user, answer_id=answer_id, reason=reason)
        await interaction.response.edit_message(content=reason_thanks(reason, stored=vote is not None), view=None)

    # --- usage reports (bot.core.ports.ReportDestination) --------------------------------------------------

    async def channel_workspace(self, channel: str) -> str:
        """The server `channel` is in (DiscordReportNotReady before login or outside a server)."""
        return await channel_server(self.client, channel)

    async def post_report(self, *, channel: str, report: Report) -> None:
        """The report in `channel`, its chart attached to the first message (discord.HTTPException on failure)."""
        await send_report(self.client, channel=channel, report=report)

    # --- threads the bot owns ------------------------------------------------------------------------------

    async def _remember_thread(self, thread_id: int | str, parent_id: str) -> None:
        await self.teambot.claims.remember_thread(translate.PLATFORM, str(thread_id), ttl_s=THREAD_TTL_S,
                                                  parent=parent_id)

    async def _claim_message(self, message_id: int) -> bool:
        """True the first time a message is seen: every replica on the same token receives every message."""
        return await self.teambot.claims.claim(translate.PLATFORM, f"message:{message_id}", ttl_s=MESSAGE_CLAIM_TTL_S)

    async def _owned_thread_parent(self, message: discord.Message) -> str | None:
        """The parent channel id if the message is in a thread the bot owns, else None."""
        if message.guild is None or self.client is None or self.client.user is None:
            return None
        channel = message.channel
        if isinstance(channel, discord.Thread) and channel.owner_id == self.client.user.id and channel.parent_id:
            return str(channel.parent_id)
        if isinstance(channel, (discord.TextChannel, discord.ForumChannel, discord.VoiceChannel)):
            return None  # a plain channel is never a thread
        return await self.teambot.claims.thread_parent(translate.PLATFORM, str(channel.id))

    # --- messages ------------------------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        """Gateway MESSAGE_CREATE: decide, then answer in a thread, the thread or the DM."""
        assert self.client is not None and self.client.user is not None
        me = self.client.user.id
        if message.author.bot or message.author.id == me:
            return
        where = translate.locate(message, bot_user_id=me,
                                 owned_thread_parent=await self._owned_thread_parent(message))
        if where.action == "ignore":
            return
        if not self.message_content and not message.content and not message.attachments:
            # Without the intent a follow-up in our thread arrives empty unless it mentions or replies to
            # the bot: nothing to answer, and no reason to tell the thread so after every message.
            return
        if not await self._claim_message(message.id):
            return  # another replica (or a replayed gateway event) already took this message
        target: discord.abc.Messageable = message.channel
        thread_id = where.thread
        if where.action == "open_thread":
            try:
                thread = await message.create_thread(
                    name=translate.thread_name(translate.strip_mention(message.content, me)),
                )
            except discord.HTTPException as exc:
                # No permission to create threads: answer in the channel, the message names the conversation.
                log.warning("could not create a thread: %s", exc)
                thread_id = str(message.id)
            else:
                target, thread_id = thread, str(thread.id)
                await self._remember_thread(thread.id, where.channel)
        elif where.is_dm is False and isinstance(message.channel, discord.Thread) \
                and message.channel.owner_id == me:
            await self._remember_thread(message.channel.id, where.channel)

        incoming = translate.incoming_message(message, where, bot_user_id=me, thread=thread_id)
        if message.attachments:
            outcomes = await upload_attachments(self.teambot, message.attachments, scope=upload_scope(incoming),
                                                actor=incoming.actor)
            for piece in split_message(outcomes_text(outcomes, plain)):
                await target.send(piece, allowed_mentions=discord.AllowedMentions.none())
            if not incoming.text:
                return  # a file without a question: the upload report is the whole reply
        if not incoming.text:
            await target.send("Ask me a question about this channel's documents, or attach a file to add it.")
            return
        if isinstance(message.channel, discord.Thread):
            await self._answer_in_thread(message.channel, message, incoming, me=me)
            return
        await self.teambot.commands.ask(incoming, self._stream(ChannelSurface(target), asker=incoming.user))

    async def _answer_in_thread(self, thread: discord.Thread, message: discord.Message, incoming: IncomingMessage,
                                *, me: int) -> None:
        """Asked inside a thread: what people said there before is context (adapters/discord/threads.py);
        "summarize this thread" summarizes it, or says why it can't."""
        said = await threads.thread_context(thread, bot_user_id=me, message_content=self.message_content,
                                            before=message)
        incoming = replace(incoming, thread_messages=said)
        stream = self._stream(ChannelSurface(thread), asker=incoming.user)
        if not asks_for_summary(incoming.text):
            await self.teambot.commands.ask(incoming, stream)
            return
        refusal = threads.why_unreadable(thread, message_content=self.message_content)
        if refusal is not None or not said:
            await thread.send(refusal or threads.NOTHING_TO_SUMMARIZE)
            return
        await self.teambot.commands.summarize_thread(incoming, stream)


def create_adapter(teambot: BotCore, *, web_app: object = None, edit_interval_s: float = 1.0) -> DiscordAdapter:
    """Build the adapter from settings; `teambot serve` calls this when DISCORD_TOKEN is set."""
    del web_app  # Discord connects out over the gateway; it needs no HTTP route of ours.
    settings = teambot.settings
    if settings.discord_token is None:
        raise ValueError("DISCORD_TOKEN is not set")
    return DiscordAdapter(
        teambot, token=settings.discord_token.get_secret_value(), guild_ids=settings.discord_guild_id_list,
        edit_interval_s=edit_interval_s, message_content=settings.discord_message_content,
    )
