"""The Discord adapter end to end: the real discord.py client against the loopback fake Discord."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import pytest
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.core.values import Scope
from bot.settings import Settings
from tests.support.discord_bot import MENTION, DiscordHarness, RunDiscord, running_discord, upload_in_channel
from tests.support.documents import DEPLOY_GUIDE
from tests.support.fake_discord import APP_ID, BOT_ID, CHANNEL_ID, DM_CHANNEL_ID, GUILD_ID, OTHER_BOT_ID
from tests.support.openai_server import FakeOpenAI

COMMANDS = ["Ask teambot about this", "Save to knowledge", "Summarize this thread", "ask", "forget", "kb", "stats",
            "summarize", "upload", "upload-everywhere"]
"""What the bot registers, sorted: slash commands and the message context menus."""
DISCORD_PY_ENDPOINTS = ("https://discord.com/api/v10", yarl.URL("wss://gateway.discord.gg/"))


async def test_login_identify_and_guild_command_sync(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    assert discord.identify is not None and discord.identify["token"] == "test-token"
    intents = discord.identify["intents"]
    assert intents & (1 << 15), "the privileged message content intent must be requested"
    assert intents & (1 << 9) and intents & (1 << 12), "guild and DM messages"
    [sync] = discord.calls_to("PUT", rf"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    assert sorted(c["name"] for c in sync.json) == COMMANDS
    kb = next(c for c in sync.json if c["name"] == "kb")
    assert sorted(o["name"] for o in kb["options"]) == ["delete", "list"]
    assert not discord.calls_to("PUT", rf"/applications/{APP_ID}/commands"), "guild ids set: no global sync"


async def test_mention_opens_thread_and_answers_there(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    await upload_in_channel(discord_bot)
    [upload_thread] = discord.thread_ids()
    assert "✓ Added guide.md" in discord.contents(upload_thread)[0]

    question = await discord.message(f"{MENTION} What is the default port of the web console?", mention_bot=True)

    [create] = await discord.wait_for(
        lambda: discord.calls_to("POST", rf"/channels/{CHANNEL_ID}/messages/{question['id']}/threads"))
    assert create.json["name"] == "What is the default port of the web console?"
    thread = discord.thread_ids()[-1]
    answer = await discord.wait_for(lambda: [c for c in discord.contents(thread) if "Sources" in c])
    assert "8080" in answer[0]
    assert "guide.md" in answer[0] and "Linux" in answer[0], "sources name the document and its section"
    assert discord.calls_to("POST", rf"/channels/{thread}/typing"), "typing indicator while working"
    assert not discord.contents(CHANNEL_ID), "nothing is posted in the channel itself"


async def test_follow_up_in_owned_thread_has_history(discord_bot_llm: DiscordHarness,
                                                     openai_server: FakeOpenAI) -> None:
    discord = discord_bot_llm.discord
    await upload_in_channel(discord_bot_llm)
    openai_server.reply = "Run make install and start it with systemctl [1]."
    await discord.message(f"{MENTION} How do I deploy on Linux?", mention_bot=True)
    thread = await discord.wait_for(lambda: len(discord.thread_ids()) == 2 and discord.thread_ids()[-1])
    await discord.wait_for(lambda: any("Sources" in c for c in discord.contents(thread)))

    openai_server.requests.clear()
    openai_server.reply = "Run the installer teambot-setup.exe [1]."
    await discord.message("And on Windows?", channel_id=thread)  # no mention: the bot owns the thread

    await discord.wait_for(lambda: any("teambot-setup.exe" in c and "Sources" in c for c in discord.contents(thread)))
    contents = [m["content"] for m in openai_server.chat_requests()[-1]["body"]["messages"]]
    assert "How do I deploy on Linux?" in contents, "the first turn reaches the model as history"
    assert "Run make install and start it with systemctl [1]." in contents
    assert len(discord.thread_ids()) == 2, "a follow-up does not open another thread"


async def test_dm_is_answered(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    await discord.message("hello, anyone?", channel_id=DM_CHANNEL_ID, guild=False)
    [answer] = await discord.wait_for(lambda: discord.contents(DM_CHANNEL_ID))
    assert answer.strip()
    assert not discord.thread_ids(), "no thread in a DM"


async def test_bots_and_unmentioned_channel_chat_are_ignored(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    await discord.message(f"{MENTION} are you there?", mention_bot=True, author_id=OTHER_BOT_ID, author_bot=True)
    await discord.message("just chatting, no mention")
    await discord.message(f"{MENTION} echo of myself", mention_bot=True, author_id=BOT_ID, author_bot=True)
    # A human mention afterwards is answered: proof the earlier events were processed, not merely slow.
    await discord.message(f"{MENTION} hello", mention_bot=True)
    thread = await discord.wait_for(lambda: discord.thread_ids() and discord.thread_ids()[0])
    await discord.wait_for(lambda: discord.contents(thread))
    assert len(discord.thread_ids()) == 1
    assert len(discord.calls_to("POST", r"/channels/\d+/messages/\d+/threads")) == 1


async def test_the_adapter_leaves_discord_py_endpoints_alone(discord_bot: DiscordHarness) -> None:
    """The harness pointed discord.py at the fake; the adapter neither sets nor restores its class attributes."""
    pointed = (discord_bot.discord.api_base, yarl.URL(discord_bot.discord.gateway_url))
    assert (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY) == pointed
    await discord_bot.adapter.stop()
    assert (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY) == pointed


async def test_the_harness_puts_discord_py_endpoints_back(make_settings: Callable[..., Settings]) -> None:
    """No test leaves discord.py pointed at a fake that is gone (the endpoints are process-wide)."""
    assert (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY) == DISCORD_PY_ENDPOINTS, "left changed by a test before"
    with pytest.MonkeyPatch.context() as monkeypatch:
        async with running_discord(make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID)),
                                   monkeypatch=monkeypatch) as env:
            assert Route.BASE == env.discord.api_base
    assert (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY) == DISCORD_PY_ENDPOINTS


async def test_slash_upload_then_ask(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    attachment = discord.attachment("guide.md", DEPLOY_GUIDE)
    upload = await discord.slash("upload", [{"name": "file", "type": 11, "value": attachment["id"]},
                                            {"name": "note", "type": 3, "value": "how we deploy"}],
                                 attachments=[attachment])
    [callback] = await discord.wait_for(lambda: discord.calls_to("POST", rf"/interactions/{upload['id']}/.+/callback"))
    assert callback.json["type"] == 5, "deferred with 'thinking' first"
    [report] = await discord.wait_for(lambda: discord.interaction_contents(upload["token"]))
    assert report == "✓ Added guide.md (2 chunks)"
    assert discord.calls_to("GET", r"/attachments/guide\.md"), "the file was downloaded from its URL"

    ask = await discord.slash("ask", [{"name": "question", "type": 3,
                                       "value": "What is the default port of the web console?"}])
    answer = await discord.wait_for(
        lambda: [c for c in discord.interaction_contents(ask["token"]) if "Sources" in c])
    assert "8080" in answer[0] and "guide.md" in answer[0]

    listing = await discord.slash("kb", [{"name": "list", "type": 1, "options": []}])
    [documents] = await discord.wait_for(lambda: discord.interaction_contents(listing["token"]))
    assert documents.startswith("guide.md · 2 chunks")
    # As on Slack, the listing is for the one who asked: the channel is not filled with document lists.
    [deferred] = discord.responses_to(listing)
    assert (deferred.json.get("data") or {}).get("flags", 0) & 64, "ephemeral"

    delete = await discord.slash("kb", [{"name": "delete", "type": 1,
                                         "options": [{"name": "document", "type": 3, "value": "guide.md"}]}])
    [deleted] = await discord.wait_for(lambda: discord.interaction_contents(delete["token"]))
    assert deleted == "Deleted guide.md (2 chunks)."
    channel_scope = Scope("discord", str(GUILD_ID), str(CHANNEL_ID))
    assert await discord_bot.teambot.knowledge.list_documents([channel_scope]) == []


async def test_bad_attachments_get_a_reason_each(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    good = discord.attachment("guide.md", DEPLOY_GUIDE)
    binary = discord.attachment("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), content_type="image/png")
    missing = discord.attachment("gone.pdf", None, content_type="application/pdf")
    await discord.message(MENTION, mention_bot=True, attachments=[good, binary, missing])
    thread = await discord.wait_for(lambda: discord.thread_ids() and discord.thread_ids()[0])
    [report] = await discord.wait_for(lambda: discord.contents(thread))
    lines = report.splitlines()
    assert any(line.startswith("✓ Added guide.md") for line in lines)
    assert any(line.startswith("✗ photo.png: ") for line in lines)
    assert "✗ gone.pdf: the file could not be downloaded from Discord" in lines
    assert len(lines) == 3


async def test_model_failure_is_told_in_the_thread(discord_bot_llm: DiscordHarness, openai_server: FakeOpenAI) -> None:
    discord = discord_bot_llm.discord
    await upload_in_channel(discord_bot_llm)
    openai_server.fail_status = 500
    await discord.message(f"{MENTION} How do I deploy on Linux?", mention_bot=True)
    thread = await discord.wait_for(lambda: len(discord.thread_ids()) == 2 and discord.thread_ids()[-1])
    [shown] = await discord.wait_for(lambda: discord.contents(thread))
    assert shown.startswith("Sorry, I couldn't answer: the language model failed (HTTP 500)")


async def test_long_answer_is_split_and_streamed(discord_bot_llm: DiscordHarness, openai_server: FakeOpenAI) -> None:
    discord = discord_bot_llm.discord
    await upload_in_channel(discord_bot_llm)
    paragraph = "Linux deploys use make install and then systemctl start teambot on the host. " * 6
    code = "```sh\n" + "\n".join(f"echo step {i}" for i in range(60)) + "\n```"
    openai_server.reply = "\n\n".join([paragraph] * 4 + [code] + [paragraph] * 4) + " [1]"
    openai_server.token_delay_s = 0.002
    await discord.message(f"{MENTION} How do I deploy on Linux?", mention_bot=True)
    thread = await discord.wait_for(lambda: len(discord.thread_ids()) == 2 and discord.thread_ids()[-1])
    shown = await discord.wait_for(
        lambda: (c := discord.contents(thread)) and "Sources" in c[-1] and c)

    assert len(shown) >= 3
    assert all(len(piece) <= 2000 for piece in shown)
    for piece in shown:
        assert piece.count("```") % 2 == 0, "no message leaves a code block open"
    assert code in "\n\n".join(shown), "the code block arrives whole, in one message"
    assert "guide.md" in shown[-1]
    edits = discord.calls_to("PATCH", rf"/channels/{thread}/messages/\d+")
    assert edits, "the answer was edited in progressively"
    updates = sorted({call.at for call in edits + discord.calls_to("POST", rf"/channels/{thread}/messages")})
    rounds = [updates[0]]  # one render touches several messages at once; count renders, not calls
    for moment in updates[1:]:
        if moment - rounds[-1] > 0.3:
            rounds.append(moment)
    gaps = [b - a for a, b in pairwise(rounds)]
    assert all(gap >= 0.9 for gap in gaps[:-1]), f"visible updates at most about once a second: {gaps}"


async def test_forget_in_thread_clears_history(discord_bot_llm: DiscordHarness, openai_server: FakeOpenAI) -> None:
    discord = discord_bot_llm.discord
    await upload_in_channel(discord_bot_llm)
    await discord.message(f"{MENTION} How do I deploy on Linux?", mention_bot=True)
    thread = await discord.wait_for(lambda: len(discord.thread_ids()) == 2 and discord.thread_ids()[-1])
    await discord.wait_for(lambda: any("Sources" in c for c in discord.contents(thread)))

    outside = await discord.slash("forget")
    [refusal] = await discord.wait_for(lambda: discord.calls_to("POST", rf"/interactions/{outside['id']}/.+/callback"))
    assert refusal.json["data"]["content"] == "Use /forget inside a thread."
    assert refusal.json["data"]["flags"] & 64, "only the user sees it"

    forget = await discord.slash("forget", channel_id=thread)
    [done] = await discord.wait_for(lambda: discord.calls_to("POST", rf"/interactions/{forget['id']}/.+/callback"))
    assert done.json["data"]["content"].startswith("Done")

    openai_server.requests.clear()
    await discord.message("And on Windows?", channel_id=thread)
    await discord.wait_for(lambda: len(discord.contents(thread)) == 2)
    [request] = openai_server.chat_requests()
    contents = [m["content"] for m in request["body"]["messages"]]
    assert "And on Windows?" in "\n".join(contents)
    assert "How do I deploy on Linux?" not in contents, "the forgotten turn no longer reaches the model"


async def test_commands_sync_globally_without_guild_ids(make_settings: Callable[..., Settings],
                                                        run_discord: RunDiscord) -> None:
    async with run_discord(make_settings(discord_token="test-token")) as env:
        [sync] = env.discord.calls_to("PUT", rf"/applications/{APP_ID}/commands")
        assert sorted(c["name"] for c in sync.json) == COMMANDS
        assert not env.discord.calls_to("PUT", r"/applications/\d+/guilds/\d+/commands")


async def test_owned_thread_is_remembered_across_restarts(discord_bot: DiscordHarness) -> None:
    """A thread the bot opened before a restart is not in discord.py's cache; Redis still says it is ours."""
    discord = discord_bot.discord
    await upload_in_channel(discord_bot)
    old_thread = 180000000000000001
    await discord_bot.teambot.redis.set(f"teambot:discord:thread:{old_thread}", str(CHANNEL_ID))
    await discord.message("What is the default port of the web console?", channel_id=old_thread)
    [answer] = await discord.wait_for(lambda: discord.contents(old_thread))
    assert "8080" in answer, "answered from the parent channel's documents"
    await discord.message("unrelated chatter", channel_id=180000000000000002)  # not ours, no mention
    await discord.message("What is the default port?", channel_id=old_thread)
    await discord.wait_for(lambda: len(discord.contents(old_thread)) == 2)
    assert not discord.contents(180000000000000002)
