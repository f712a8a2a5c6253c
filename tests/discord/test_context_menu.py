"""The message context menu "Ask teambot about this", through the real discord.py client."""

from __future__ import annotations

from adapters.discord.commands import ASK_ABOUT_THIS
from tests.support.discord_bot import MENTION, DiscordHarness, upload_in_channel
from tests.support.fake_discord import APP_ID, CHANNEL_ID, GUILD_ID, OTHER_BOT_ID


async def test_ask_about_a_message_answers_its_words_for_everyone(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    await upload_in_channel(discord_bot)
    [sync] = discord.calls_to("PUT", rf"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    [menu] = [c for c in sync.json if c["name"] == ASK_ABOUT_THIS]
    assert menu["type"] == 3, "a message context menu"

    # Someone asked in the channel without mentioning the bot; a teammate asks teambot about that message.
    target = discord.message_payload("Which port does the web console listen on?", channel_id=CHANNEL_ID,
                                     author_id=OTHER_BOT_ID)
    asked = await discord.message_command(ASK_ABOUT_THIS, target)
    [deferred] = await discord.wait_for(lambda: discord.responses_to(asked))
    assert deferred.json["type"] == 5 and not (deferred.json.get("data") or {}).get("flags"), "answered in public"
    [answer] = await discord.wait_for(
        lambda: [c for c in discord.interaction_contents(asked["token"]) if "Sources" in c])
    assert "8080" in answer and "guide.md" in answer


async def test_ask_about_a_message_without_words_says_so(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    target = discord.message_payload(MENTION, channel_id=CHANNEL_ID, mention_bot=True)
    asked = await discord.message_command(ASK_ABOUT_THIS, target)
    [refusal] = await discord.wait_for(lambda: discord.responses_to(asked))
    assert refusal.json["type"] == 4 and refusal.json["data"]["flags"] & 64
    assert refusal.json["data"]["content"] == "That message has no text to ask about."
