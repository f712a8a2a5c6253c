"""The Discord adapter end to end: the real discord.py client against the loopback fake Discord."""

from __future__ import annotations

from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.discord.conftest import Running
from tests.discord.fake_discord import APP_ID, BOT_ID, CHANNEL_ID, DM_CHANNEL_ID, GUILD_ID, OTHER_BOT_ID
from tests.support.openai_server import FakeOpenAI

GUIDE = b"""# Deploy guide

## Linux

To deploy on Linux, run make install and start the service with systemctl start teambot.
The default port of the web console is 8080.

## Windows

On Windows, run the installer teambot-setup.exe and choose the service option.
"""

MENTION = f"<@{BOT_ID}>"


async def upload_in_channel(env: Running, name: str = "guide.md", data: bytes = GUIDE) -> None:
    """Upload through a mention with an attachment and wait for the per-file report."""
    discord = env.discord
    attachment = discord.attachment(name, data)
    await discord.message(MENTION, mention_bot=True, attachments=[attachment])
    await discord.wait_for(lambda: any("✓" in c or "✗" in c for t in discord.thread_ids() for c in discord.contents(t)))


async def test_login_identify_and_guild_command_sync(discord_bot: Running) -> None:
    discord = discord_bot.discord
    assert discord.identify is not None and discord.identify["token"] == "test-token"
    intents = discord.identify["intents"]
    assert intents & (1 << 15), "the privileged message content intent must be requested"
    assert intents & (1 << 9) and intents & (1 << 12), "guild and DM messages"
    [sync] = discord.calls_to("PUT", rf"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    assert sorted(c["name"] for c in sync.json) == ["ask", "forget", "kb", "upload"]
    kb = next(c for c in sync.json if c["name"] == "kb")
    assert sorted(o["name"] for o in kb["options"]) == ["delete", "list"]
    assert not discord.calls_to("PUT", rf"/applications/{APP_ID}/commands"), "guild ids set: no global sync"


async def test_mention_opens_thread_and_answers_there(discord_bot: Running) -> None:
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


async def test_follow_up_in_owned_thread_has_history(discord_bot_llm: Running, openai_server: FakeOpenAI) -> None:
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


async def test_dm_is_answered(discord_bot: Running) -> None:
    discord = discord_bot.discord
    await discord.message("hello, anyone?", channel_id=DM_CHANNEL_ID, guild=False)
    [answer] = await discord.wait_for(lambda: discord.contents(DM_CHANNEL_ID))
    assert answer.strip()
    assert not discord.thread_ids(), "no thread in a DM"


async def test_bots_and_unmentioned_channel_chat_are_ignored(discord_bot: Running) -> None:
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


async def test_endpoints_are_restored_after_stop(discord_bot: Running) -> None:
    assert Route.BASE == discord_bot.discord.api_base
    await discord_bot.adapter.stop()
    assert Route.BASE == "https://discord.com/api/v10"
    assert str(DiscordWebSocket.DEFAULT_GATEWAY) == "wss://gateway.discord.gg/"
