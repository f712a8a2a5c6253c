"""Slash commands (`/ask`, `/upload`, `/upload-everywhere`, `/kb list|delete`, `/forget`, `/stats`) and the
message context menu, registered explicitly on a CommandTree.

Each command defers first (Discord allows three seconds for the first
response) and then reports through the deferred response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import discord
from discord import app_commands

from adapters.discord import translate
from adapters.discord.choices import document_choices
from adapters.discord.stream import DiscordReplyStream, InteractionSurface, plain, split_message
from bot.commands import FileOutcome, outcomes_text
from bot.core.ports import BotCore
from bot.core.values import Actor, Attachment, Scope
from bot.core.visibility import upload_scope
from bot.reports.periods import KINDS
from bot.reports.stats import DEFAULT_STATS_PERIOD

log = logging.getLogger(__name__)

StreamFactory = Callable[[InteractionSurface], DiscordReplyStream]


async def download_attachments(attachments: Sequence[discord.Attachment], *, max_bytes: int
                               ) -> list[Attachment | FileOutcome]:
    """Download what may be ingested, in order; files too big or unreachable become per-file refusals."""
    fetched: list[Attachment | FileOutcome] = []
    for attachment in attachments:
        stub = translate.attachment_stub(attachment)
        if attachment.size > max_bytes:
            # Refuse before downloading: no reason to pull a huge file just to reject it.
            fetched.append(FileOutcome(stub.name, error=(
                f"the file is {attachment.size / 1048576:.1f} MB, over the {max_bytes / 1048576:.0f} MB limit")))
            continue
        try:
            data = await attachment.read()
        except (discord.HTTPException, discord.ClientException, OSError) as exc:
            log.warning("attachment download failed: %s", exc)
            fetched.append(FileOutcome(stub.name, error="the file could not be downloaded from Discord"))
            continue
        fetched.append(Attachment(name=stub.name, data=data, url=stub.url, size=stub.size,
                                  mime_type=stub.mime_type))
    return fetched


async def upload_attachments(teambot: BotCore, attachments: Sequence[discord.Attachment], *, scope: Scope,
                             actor: Actor, note: str = "") -> list[FileOutcome]:
    """Check the uploader, then download and ingest (a refused user's files are never fetched)."""

    async def fetch() -> list[Attachment | FileOutcome]:
        return await download_attachments(attachments, max_bytes=teambot.settings.max_upload_bytes)

    outcomes: list[FileOutcome] = await teambot.commands.upload(
        names=[translate.attachment_stub(a).name for a in attachments], fetch=fetch, scope=scope,
        uploader=actor.user, actor=actor, note=note,
    )
    return outcomes


async def reply_text(interaction: discord.Interaction[Any], text: str, *, ephemeral: bool = False) -> None:
    """Report on a deferred interaction, in as many messages as the text needs (`ephemeral`: the
    follow-ups too are shown to the asker only, as the deferred response was)."""
    pieces = split_message(text) or ["(nothing)"]
    await interaction.edit_original_response(content=pieces[0], allowed_mentions=discord.AllowedMentions.none())
    for piece in pieces[1:]:
        await interaction.followup.send(piece, ephemeral=ephemeral, allowed_mentions=discord.AllowedMentions.none())


UPLOAD_EVERYWHERE = "upload-everywhere"
"""The admins' upload to every channel of a server (hidden from members who cannot manage the server)."""
ASK_ABOUT_THIS = "Ask teambot about this"
"""The message context menu (right-click a message, Apps) that asks the message's words as a question."""


def build_commands(teambot: BotCore, *, stream_factory: StreamFactory
                   ) -> list[app_commands.Command[Any, Any, Any] | app_commands.Group | app_commands.ContextMenu]:
    """The bot's slash commands, bound to `teambot`; the adapter adds them to its tree."""

    @app_commands.command(name="ask", description="Ask a question about this channel's documents.")
    @app_commands.describe(question="What you want to know")
    async def ask(interaction: discord.Interaction[Any], question: str) -> None:
        await interaction.response.defer(thinking=True)
        message = translate.interaction_message(interaction, text=question)
        stream = stream_factory(InteractionSurface(interaction))
        await teambot.commands.ask(message, stream)

    async def add_file(interaction: discord.Interaction[Any], file: discord.Attachment, note: str | None, *,
                       everywhere: bool) -> None:
        await interaction.response.defer(thinking=True)
        message = translate.interaction_message(interaction, text="")
        scope = upload_scope(message).workspace_wide() if everywhere else upload_scope(message)
        outcomes = await upload_attachments(teambot, [file], scope=scope, actor=message.actor, note=note or "")
        await reply_text(interaction, outcomes_text(outcomes, plain))

    @app_commands.command(name="upload", description="Add a file to this channel's knowledge.")
    @app_commands.describe(file="PDF, Word, Markdown, HTML or text file", note="What the file is about (optional)")
    async def upload(interaction: discord.Interaction[Any], file: discord.Attachment, note: str | None = None) -> None:
        await add_file(interaction, file, note, everywhere=False)

    # Admins only, so its own command: Discord can hide a command from members (default_permissions; server
    # admins can change who sees it under Integrations), never one option of a command. TEAMBOT_ADMINS still
    # decides who may use it.
    @app_commands.command(name=UPLOAD_EVERYWHERE, description="Admins: add a file to every channel of this server.")
    @app_commands.describe(file="PDF, Word, Markdown, HTML or text file", note="What the file is about (optional)")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def upload_everywhere(interaction: discord.Interaction[Any], file: discord.Attachment,
                                note: str | None = None) -> None:
        await add_file(interaction, file, note, everywhere=True)

    kb = app_commands.Group(name="kb", description="This channel's knowledge base.")

    @kb.command(name="list", description="List the documents this channel can answer from.")
    async def kb_list(interaction: discord.Interaction[Any]) -> None:
        # Only the asker sees the list (as Slack's /kb): changes (uploads, deletes) stay visible to all.
        await interaction.response.defer(ephemeral=True, thinking=True)
        message = translate.interaction_message(interaction, text="")
        await reply_text(interaction, (await teambot.commands.list_documents(message)).text(plain), ephemeral=True)

    @kb.command(name="delete", description="Delete a document of this channel (by name or id).")
    @app_commands.describe(document="The document's file name or id, as /kb list shows it")
    async def kb_delete(interaction: discord.Interaction[Any], document: str) -> None:
        await interaction.response.defer(thinking=True)
        message = translate.interaction_message(interaction, text="")
        await reply_text(interaction, (await teambot.commands.delete(message, document)).text(plain))

    @kb_delete.autocomplete("document")
    async def kb_delete_names(interaction: discord.Interaction[Any], typed: str) -> list[app_commands.Choice[str]]:
        # Only what the user could delete from here: this channel's documents, and every channel's for admins.
        message = translate.interaction_message(interaction, text="")
        listing = await teambot.commands.list_documents(message)
        manageable = set(teambot.commands.manageable_scopes(message))
        return document_choices([d for d in listing.documents if d.scope in manageable], typed)

    @app_commands.command(name="forget", description="Forget this thread's conversation history.")
    async def forget(interaction: discord.Interaction[Any]) -> None:
        if not translate.in_thread(interaction):
            await interaction.response.send_message("Use /forget inside a thread.", ephemeral=True)
            return
        message = translate.interaction_message(interaction, text="")
        await teambot.commands.forget(message.conversation_key)
        await interaction.response.send_message("Done: I forgot this thread's conversation.", ephemeral=True)

    @app_commands.command(name="stats", description="Usage statistics of the bot (only you see them).")
    @app_commands.describe(period="day, week or month so far (default: week)")
    @app_commands.choices(period=[app_commands.Choice(name=kind, value=kind) for kind in KINDS])
    async def stats(interaction: discord.Interaction[Any], period: str = DEFAULT_STATS_PERIOD) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        message = translate.interaction_message(interaction, text="")
        answer = await teambot.commands.stats(message, period)
        await reply_text(interaction, answer.markdown, ephemeral=True)  # the report is Markdown, as Discord's

    async def ask_about(interaction: discord.Interaction[Any], target: discord.Message) -> None:
        # A context menu takes no input: the message's own words are the question, answered where it was asked.
        bot_id = interaction.client.user.id if interaction.client.user is not None else 0
        question = translate.strip_mention(target.content, bot_id)
        if not question:
            await interaction.response.send_message("That message has no text to ask about.", ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        message = translate.interaction_message(interaction, text=question)
        await teambot.commands.ask(message, stream_factory(InteractionSurface(interaction)))

    ask_about_menu = app_commands.ContextMenu(name=ASK_ABOUT_THIS, callback=ask_about)

    return [ask, upload, upload_everywhere, kb, forget, stats, ask_about_menu]
