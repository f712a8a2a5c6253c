"""Document names offered while typing `/kb delete`: through the real discord.py client, and the choice rules."""

from __future__ import annotations

from collections.abc import Callable

from adapters.discord.choices import document_choices
from bot.core.values import Attachment, DocumentInfo, Scope
from bot.settings import Settings
from tests.support.discord_bot import DiscordHarness, RunDiscord, upload_in_channel
from tests.support.fake_discord import CHANNEL_ID, GUILD_ID, HUMAN_ID

CHANNEL = Scope("discord", str(GUILD_ID), str(CHANNEL_ID))
SOMEONE_ELSE = 120000000000000002


def _document(source: str, *, scope: Scope = CHANNEL, document_id: str | None = None) -> DocumentInfo:
    return DocumentInfo(id=document_id or f"id-{source}", scope=scope, source=source, title=source, content_hash="",
                        uploader="u", chunk_count=1, size_bytes=1, ingested_at=0.0)


def _delete_typing(typed: str) -> list[dict[str, object]]:
    return [{"name": "delete", "type": 1, "options": [{"name": "document", "type": 3, "value": typed,
                                                       "focused": True}]}]


async def test_kb_delete_suggests_this_channels_documents_as_typed(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    await upload_in_channel(discord_bot)
    await upload_in_channel(discord_bot, "runbook.md", b"# Runbook\n\nRestart the worker with make restart.\n")
    [guide] = [d for d in await discord_bot.teambot.knowledge.list_documents([CHANNEL]) if d.source == "guide.md"]

    typed = await discord.autocomplete("kb", _delete_typing("GUI"))
    [response] = await discord.wait_for(lambda: discord.responses_to(typed))
    assert response.json == {"type": 8, "data": {"choices": [{"name": "guide.md", "value": guide.id}]}}

    everything = await discord.autocomplete("kb", _delete_typing(""))
    [response] = await discord.wait_for(lambda: discord.responses_to(everything))
    assert [c["name"] for c in response.json["data"]["choices"]] == ["guide.md", "runbook.md"]

    # The chosen value deletes that very document.
    delete = await discord.slash("kb", [{"name": "delete", "type": 1,
                                         "options": [{"name": "document", "type": 3, "value": guide.id}]}])
    [deleted] = await discord.wait_for(lambda: discord.interaction_contents(delete["token"]))
    assert deleted == "Deleted guide.md (2 chunks)."


async def test_every_channel_documents_are_suggested_to_admins_only(make_settings: Callable[..., Settings],
                                                                    run_discord: RunDiscord) -> None:
    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID), admins=f"discord:{HUMAN_ID}")
    async with run_discord(settings) as env:
        discord = env.discord
        await env.teambot.commands.ingest([Attachment(name="policy.md", data=b"# Policy\n\nBe kind.\n")],
                                          scope=CHANNEL.workspace_wide(), uploader=str(HUMAN_ID))
        admin = await discord.autocomplete("kb", _delete_typing("pol"))
        [response] = await discord.wait_for(lambda: discord.responses_to(admin))
        assert [c["name"] for c in response.json["data"]["choices"]] == ["policy.md (every channel)"]

        member = await discord.autocomplete("kb", _delete_typing("pol"), user_id=SOMEONE_ELSE)
        [response] = await discord.wait_for(lambda: discord.responses_to(member))
        assert response.json["data"]["choices"] == [], "not offered to who may not delete it"


def test_prefix_matches_come_first_and_at_most_25_are_offered() -> None:
    documents = [_document(f"notes-{i:02}.md") for i in range(30)] + [_document("old-notes.md"),
                                                                       _document("Notebook.md")]
    names = [c.name for c in document_choices(documents, "no")]
    assert len(names) == 25
    assert names[0] == "Notebook.md" and "old-notes.md" not in names, "prefix matches fill the list first"
    assert [c.name for c in document_choices(documents, "old")] == ["old-notes.md"]
    assert [c.name for c in document_choices(documents, "d-no")] == ["old-notes.md"], "or anywhere in the name"


def test_names_are_one_clean_line_of_at_most_100_characters() -> None:
    long_name = "quarterly\nreport\u202e" + "x" * 300 + ".pdf"
    [choice] = document_choices([_document(long_name, document_id="d" * 200)], "quarterly")
    assert len(choice.name) <= 100 and "\n" not in choice.name and "\u202e" not in choice.name
    assert choice.name.startswith("quarterly report")
    assert choice.value == long_name[:100], "an id too long to send: the name is sent (delete takes either)"
    [everywhere] = document_choices([_document("x" * 150, scope=CHANNEL.workspace_wide())], "")
    assert len(everywhere.name) <= 100 and everywhere.name.endswith(" (every channel)")
