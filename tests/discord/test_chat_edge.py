"""What reaches Discord from the chat edge: refused files never downloaded, names escaped,
no mentions allowed. Through the real discord.py client against the loopback Discord."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.core.values import Scope
from bot.observability import configure_logging
from bot.settings import Settings
from tests.support.discord_bot import MENTION, DiscordHarness, RunDiscord
from tests.support.documents import DEPLOY_GUIDE
from tests.support.fake_discord import CHANNEL_ID, GUILD_ID
from tests.support.logs import capture_root_handler, restored_logging

CHANNEL = Scope("discord", str(GUILD_ID), str(CHANNEL_ID))


async def test_a_refused_uploader_s_attachment_is_never_downloaded(make_settings: Callable[..., Settings],
                                                                    run_discord: RunDiscord) -> None:
    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID),
                             uploaders="discord:role:Editors")
    async with run_discord(settings) as env:
        discord = env.discord
        attachment = discord.attachment("guide.md", DEPLOY_GUIDE)
        await discord.message(MENTION, mention_bot=True, attachments=[attachment])
        [report] = await discord.wait_for(
            lambda: [c for t in discord.thread_ids() for c in discord.contents(t) if "✗" in c])
        assert report == "✗ guide.md: you are not allowed to add or delete documents here; ask an admin"
        assert not discord.calls_to("GET", r"/attachments/guide\.md"), "refused before downloading"
        assert await env.teambot.knowledge.list_documents([CHANNEL]) == []


ROTA = b"# Pager rota\n\nTeam Kestrel carries the pager for the lighthouse cluster this quarter.\n"
HOSTILE_NAME = "@everyone *urgent* [portal](evil.example) <@&222222222222222222>.md"
SHOWN_NAME = "@\u200beveryone *urgent* [portal](evil.example) <@&222222222222222222>.md"
"""How Discord shows the escaped name: as typed, @everyone broken by a zero-width space."""


def shown(message: str) -> str:
    """What Discord displays for `message`: a backslash before punctuation escapes it and is dropped."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", message)


def assert_inert(message: str) -> None:
    """No Markdown or mention in `message` survives: every `*`, `[`, `]` and `<` is escaped."""
    unescaped = re.sub(r"\\.", "", message)
    assert not any(char in unescaped for char in "*[]<"), message
    assert "@everyone" not in message and "@here" not in message, message


async def test_document_names_are_escaped_and_no_message_mentions_anyone(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    await discord.message(MENTION, mention_bot=True, attachments=[discord.attachment(HOSTILE_NAME, ROTA)])
    [upload_thread] = await discord.wait_for(lambda: discord.thread_ids())
    [report] = await discord.wait_for(lambda: discord.contents(upload_thread))
    assert shown(report) == f"✓ Added {SHOWN_NAME} (1 chunks)"
    assert_inert(report)

    await discord.message(f"{MENTION} Which pager rota covers the lighthouse cluster?", mention_bot=True)
    thread = await discord.wait_for(lambda: len(discord.thread_ids()) == 2 and discord.thread_ids()[-1])
    [answer] = await discord.wait_for(lambda: [c for c in discord.contents(thread) if "Sources" in c])
    source_line = next(line for line in answer.splitlines() if line.startswith("-# [1] **"))
    name = source_line.removeprefix("-# [1] **").split("**", 1)[0]
    assert shown(name) == SHOWN_NAME
    assert_inert(name)

    listing = await discord.slash("kb", [{"name": "list", "type": 1, "options": []}])
    [documents] = await discord.wait_for(lambda: discord.interaction_contents(listing["token"]))
    assert shown(documents).startswith(f"{SHOWN_NAME} · 1 chunks · ")
    assert_inert(documents.split(" · ")[0])

    replies = []
    for reference in ("@everyone", HOSTILE_NAME):
        delete = await discord.slash("kb", [{"name": "delete", "type": 1,
                                             "options": [{"name": "document", "type": 3, "value": reference}]}])
        replies += await discord.wait_for(lambda token=delete["token"]: discord.interaction_contents(token))
    assert [shown(r) for r in replies] == ["Could not delete: no document named '@\u200beveryone' here.",
                                         f"Deleted {SHOWN_NAME} (1 chunks)."]
    assert_inert(replies[1])

    sent = [c for c in discord.calls if c.method in ("POST", "PATCH") and isinstance(c.json, dict)
            and "content" in c.json]
    assert sent and all(c.json.get("allowed_mentions", {}).get("parse") == [] for c in sent), "no message may ping"
    assert not [c for c in sent if "@everyone" in c.json["content"] or re.search(r"(?<!\\)<@&", c.json["content"])]


async def test_discord_py_debug_logs_carry_no_message_text(make_settings: Callable[..., Settings],
                                                             run_discord: RunDiscord) -> None:
    with restored_logging():
        settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID), log_level="DEBUG")
        configure_logging(level="DEBUG", json_format=True, secrets=settings.secret_values())
        buffer = capture_root_handler()
        async with run_discord(settings) as env:
            discord = env.discord
            await discord.message(MENTION, mention_bot=True, attachments=[discord.attachment("rota.md", ROTA)])
            await discord.wait_for(lambda: [c for t in discord.thread_ids() for c in discord.contents(t)])
            await discord.message(f"{MENTION} Which pager rota covers the lighthouse cluster?", mention_bot=True)
            thread = await discord.wait_for(lambda: len(discord.thread_ids()) == 2 and discord.thread_ids()[-1])
            await discord.wait_for(lambda: [c for c in discord.contents(thread) if "Sources" in c])
        output = buffer.getvalue()
        assert "question received" in output, "the bot's own lines are kept"
        for content in ("lighthouse", "Kestrel"):
            assert content not in output, f"message or document text ({content!r}) in the logs"
