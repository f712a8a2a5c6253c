"""The "Save to knowledge" message context menu, through the real discord.py client against the loopback fake:
a thread saved with its link as a document of the channel, answerable afterwards; refused to who may not upload."""

from __future__ import annotations

from collections.abc import Callable

from agent.records import chunk_id
from bot.core.values import Scope
from bot.settings import Settings
from tests.support.discord_bot import DiscordHarness, RunDiscord
from tests.support.fake_discord import APP_ID, BOT_ID, CHANNEL_ID, GUILD_ID

SAVE = "Save to knowledge"
CHANNEL = Scope("discord", str(GUILD_ID), str(CHANNEL_ID))


async def _freeze_thread(env: DiscordHarness) -> tuple[int, dict[str, object]]:
    """A thread people had about the Falcon freeze (with one answer of the bot's); (its id, a reply in it)."""
    discord = env.discord
    starter = discord.post("Heads up: the deploy freeze for the Falcon release is this week.")
    thread = await discord.start_thread(starter, "Falcon freeze")
    discord.post("When does the Falcon freeze start exactly?", channel_id=thread)
    discord.post("I don't know: nothing about that in the documents.", channel_id=thread, author_id=BOT_ID,
                 author_bot=True)
    reply = discord.post("The Falcon freeze starts Friday at 18:00 and lasts until Monday 09:00.", channel_id=thread)
    return thread, reply


async def test_save_to_knowledge_stores_the_thread_with_its_link_and_answers_from_it(
        discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    [sync] = discord.calls_to("PUT", rf"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    assert {"name": SAVE, "type": 3} in [{"name": c["name"], "type": c.get("type", 1)} for c in sync.json]

    thread, reply = await _freeze_thread(discord_bot)
    used = await discord.message_menu(SAVE, reply)
    [told] = await discord.wait_for(lambda: discord.interaction_contents(used["token"]))
    assert "Saved to this channel's knowledge" in told and "thread-" in told

    [document] = await discord_bot.teambot.knowledge.list_documents([CHANNEL])
    assert document.source.startswith("thread-") and "heads-up-the-deploy-freeze" in document.source
    first = (await discord_bot.teambot.lexical.get_chunks([chunk_id(document.id, 0)]))[chunk_id(document.id, 0)]
    assert first.text.startswith(f"https://discord.com/channels/{GUILD_ID}/{thread}"), "the thread's link first"

    # Saved twice: replaced, not doubled.
    again = await discord.message_menu(SAVE, reply)
    await discord.wait_for(lambda: discord.interaction_contents(again["token"]))
    assert len(await discord_bot.teambot.knowledge.list_documents([CHANNEL])) == 1

    ask = await discord.slash("ask", [{"name": "question", "type": 3, "value": "When does the Falcon freeze start?"}])
    [answer] = await discord.wait_for(
        lambda: [c for c in discord.interaction_contents(ask["token"]) if "Sources" in c])
    assert "Friday at 18:00" in answer and document.source in answer
    assert "nothing about that in the documents" not in answer, "the bot's own reply was not saved"


async def test_save_to_knowledge_is_refused_to_who_may_not_upload(
        make_settings: Callable[..., Settings], run_discord: RunDiscord) -> None:
    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID), uploaders="discord:1")
    async with run_discord(settings) as env:
        _, reply = await _freeze_thread(env)
        used = await env.discord.message_menu(SAVE, reply)
        [told] = await env.discord.wait_for(lambda: env.discord.interaction_contents(used["token"]))
        assert "Can't save this" in told
        assert not env.discord.calls_to("GET", r"/channels/\d+/messages"), "refused before anything is read"
        assert await env.teambot.knowledge.list_documents([CHANNEL]) == []


async def test_without_the_message_content_intent_the_message_itself_is_saved_and_the_user_told(
        discord_bot_without_content: DiscordHarness) -> None:
    """Discord sends the text of the message a menu is used on even without the intent; the rest of the
    thread would arrive empty. So that message is saved, and the user is told why it is only that one."""
    env = discord_bot_without_content
    discord = env.discord
    thread, reply = await _freeze_thread(env)
    used = await discord.message_menu(SAVE, reply)
    [told] = await discord.wait_for(lambda: discord.interaction_contents(used["token"]))
    assert "Saved to this channel's knowledge" in told and "Only this message was saved" in told
    assert not discord.calls_to("GET", rf"/channels/{thread}/messages"), "nothing read that would arrive empty"

    ask = await discord.slash("ask", [{"name": "question", "type": 3, "value": "When does the Falcon freeze start?"}])
    [answer] = await discord.wait_for(
        lambda: [c for c in discord.interaction_contents(ask["token"]) if "Sources" in c])
    assert "Friday at 18:00" in answer
