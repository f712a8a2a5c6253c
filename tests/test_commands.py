"""Commands are written once (`bot.commands`): Slack, Discord and the console give the same list and
delete results for the same situation, each only escaping in its own way."""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from adapters.console.adapter import ConsoleAdapter
from adapters.fake.adapter import FakeAdapter
from bot.app import Teambot
from bot.commands import DeleteDocument, DocumentsRequest, DocumentsUsage, ListDocuments, parse_documents_command
from bot.core.errors import StoreUnavailable
from bot.core.values import Scope
from bot.settings import Settings
from tests.support.discord_bot import running_discord
from tests.support.documents import DEPLOY_GUIDE
from tests.support.fake_discord import CHANNEL_ID, GUILD_ID
from tests.support.fake_slack import TEAM_ID, FakeSlack
from tests.support.slack_bot import running_slack, slack_settings

POLICY = b"# Travel policy\n\nBook trains for trips under four hours.\n"
CHAT = ("list", "delete nope.md", "delete guide.md", "list")
"""What a user does on each surface: list, delete a missing and an existing document, list again."""


async def seed(teambot: Teambot, channel: Scope) -> None:
    await teambot.knowledge.ingest(name="guide.md", data=DEPLOY_GUIDE, scope=channel, uploader="someone")
    await teambot.knowledge.ingest(name="policy.md", data=POLICY, scope=channel.workspace_wide(), uploader="admin")


def store_down(teambot: Teambot) -> None:
    async def unavailable(scopes: Any) -> Any:
        raise StoreUnavailable("the catalog is locked")

    teambot.knowledge.list_documents = unavailable


def same_everywhere(replies: list[str]) -> list[str]:
    """Document ids differ by platform (they hash the scope); everything else must not."""
    return [re.sub(r"id [0-9a-f]+", "id ID", reply) for reply in replies]


async def on_slack(make_settings: Callable[..., Settings], prepare: Callable[[Teambot, Scope], Awaitable[None]],
                   steps: tuple[str, ...]) -> list[str]:
    async with FakeSlack() as fake, running_slack(slack_settings(make_settings, fake, None), fake) as slack:
        await prepare(slack.teambot, Scope("slack", TEAM_ID, "C1"))
        for number, step in enumerate(steps, start=1):
            await slack.command("/kb", "" if step == "list" else step)
            await fake.wait_for(lambda number=number: len(fake.of("chat.postEphemeral")) == number)
            await slack.adapter.idle()
        return [call.params["text"] for call in fake.of("chat.postEphemeral")]


async def on_discord(make_settings: Callable[..., Settings], prepare: Callable[[Teambot, Scope], Awaitable[None]],
                     steps: tuple[str, ...]) -> list[str]:
    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID))
    with pytest.MonkeyPatch.context() as monkeypatch:  # discord.py's endpoints, put back after this run
        async with running_discord(settings, monkeypatch=monkeypatch) as env:
            await prepare(env.teambot, Scope("discord", str(GUILD_ID), str(CHANNEL_ID)))
            replies = []
            for step in steps:
                if step == "list":
                    options: list[dict[str, Any]] = [{"name": "list", "type": 1, "options": []}]
                else:
                    reference = step.removeprefix("delete ")
                    options = [{"name": "delete", "type": 1,
                                "options": [{"name": "document", "type": 3, "value": reference}]}]
                sent = await env.discord.slash("kb", options)
                [reply] = await env.discord.wait_for(
                    lambda sent=sent: [c for c in env.discord.interaction_contents(sent["token"]) if c])
                replies.append(reply)
            return replies


async def on_console(make_settings: Callable[..., Settings], prepare: Callable[[Teambot, Scope], Awaitable[None]],
                     steps: tuple[str, ...]) -> list[str]:
    async with Teambot(make_settings()) as teambot:
        out = io.StringIO()
        console = ConsoleAdapter(teambot, channel="general", out=out)
        await prepare(teambot, console.scope)
        replies = []
        for step in steps:
            out.seek(0)
            out.truncate()
            await console.handle_line("/docs" if step == "list" else f"/{step}")
            replies.append(out.getvalue().rstrip("\n"))
        return replies


async def on_fake(make_settings: Callable[..., Settings], prepare: Callable[[Teambot, Scope], Awaitable[None]],
                  steps: tuple[str, ...]) -> list[str]:
    async with Teambot(make_settings()) as teambot:
        fake = FakeAdapter(teambot)
        await prepare(teambot, fake.message("", channel="general").scope)
        return [(await fake.list_documents(channel="general")).text() if step == "list"
                else (await fake.delete(step.removeprefix("delete "), channel="general")).text() for step in steps]


SURFACES = {"slack": on_slack, "discord": on_discord, "console": on_console, "fake": on_fake}


async def test_list_and_delete_read_the_same_on_every_chat_surface(make_settings: Callable[..., Settings]) -> None:
    seen = {name: same_everywhere(await run(make_settings, seed, CHAT)) for name, run in SURFACES.items()}
    listing, missing, deleted, after = seen["console"]
    assert listing.splitlines()[0].startswith("guide.md · ") and " chunks · " in listing
    assert "policy.md (workspace-wide) · 1 chunks · " in listing, "every visible scope, the console's too"
    assert missing == "Could not delete: no document named 'nope.md' here."
    assert re.fullmatch(r"Deleted guide\.md \(\d+ chunks\)\.", deleted)
    assert after.startswith("policy.md (workspace-wide)") and "guide.md" not in after
    assert seen["slack"] == seen["console"]
    assert seen["discord"] == seen["console"]
    assert seen["fake"] == seen["console"]


async def test_a_failing_store_is_one_line_on_every_chat_surface(make_settings: Callable[..., Settings]) -> None:
    async def broken(teambot: Teambot, channel: Scope) -> None:
        store_down(teambot)

    for name, run in SURFACES.items():
        assert await run(make_settings, broken, ("list",)) == [
            "Sorry, I couldn't list the documents: the document store is unavailable right now."], name


@pytest.mark.parametrize(("words", "expected"), [
    ("", ListDocuments()), ("list", ListDocuments()), ("LS", ListDocuments()),
    ("delete guide.md", DeleteDocument("guide.md")), ('rm "my file.md"', DeleteDocument("my file.md")),
    ("delete", DocumentsUsage("/kb", "say which document to delete: its name or id")),
    ("help", DocumentsUsage("/kb")),
    ("frobnicate", DocumentsUsage("/kb", "unknown option 'frobnicate'")),
])
def test_the_documents_command_is_read_once_for_every_platform(words: str, expected: DocumentsRequest) -> None:
    assert parse_documents_command(words, command="/kb") == expected


def test_the_documents_usage_names_the_command_it_was_typed_as() -> None:
    assert DocumentsUsage("/docs", "unknown option 'x'").text() == (
        "unknown option 'x'. Usage: `/docs` lists this channel's documents; `/docs delete NAME-OR-ID` deletes one.")
