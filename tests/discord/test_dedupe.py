"""The same message delivered twice (a second replica on the same token, a replayed gateway event)
is answered once."""

from __future__ import annotations

import asyncio

from tests.support.discord_bot import MENTION, DiscordHarness, upload_in_channel
from tests.support.fake_discord import CHANNEL_ID


async def test_a_redelivered_message_is_answered_once(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    await upload_in_channel(discord_bot)
    question = await discord.message(f"{MENTION} What is the default port of the web console?", mention_bot=True)
    thread = await discord.wait_for(lambda: len(discord.thread_ids()) == 2 and discord.thread_ids()[-1])
    await discord.wait_for(lambda: any("Sources" in c for c in discord.contents(thread)))

    await discord.dispatch("MESSAGE_CREATE", question)
    await asyncio.sleep(0.5)  # give a wrong second answer the time to appear

    assert len(discord.calls_to("POST", rf"/channels/{CHANNEL_ID}/messages/{question['id']}/threads")) == 1
    assert sum("Sources" in c for c in discord.contents(thread)) == 1
