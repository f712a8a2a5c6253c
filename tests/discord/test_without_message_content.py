"""The mode without the privileged message content intent (`DISCORD_MESSAGE_CONTENT=false`)."""

from __future__ import annotations

from collections.abc import Callable

from bot.settings import Settings
from tests.support.discord_bot import MENTION, RunDiscord, upload_in_channel
from tests.support.fake_discord import DM_CHANNEL_ID, GUILD_ID, MESSAGE_CONTENT_INTENT


async def test_mentions_threads_and_dms_work_without_the_privileged_intent(
        make_settings: Callable[..., Settings], run_discord: RunDiscord) -> None:
    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID),
                             discord_message_content=False)
    async with run_discord(settings) as env:
        discord = env.discord
        assert discord.identify is not None
        assert not discord.identify["intents"] & MESSAGE_CONTENT_INTENT, "the privileged intent is not asked for"
        assert not discord.reads_message_content

        await upload_in_channel(env)  # a mention with a file: Discord sends both
        await discord.message(f"{MENTION} What is the default port of the web console?", mention_bot=True)
        thread = await discord.wait_for(lambda: len(discord.thread_ids()) == 2 and discord.thread_ids()[-1])
        [answer] = await discord.wait_for(lambda: [c for c in discord.contents(thread) if "Sources" in c])
        assert "8080" in answer

        # A follow-up without a mention arrives empty: the bot cannot read it and says nothing.
        unread = await discord.message("And on Windows?", channel_id=thread)
        assert unread["content"] == ""
        await discord.message(f"{MENTION} Which port does the web console use?", channel_id=thread,
                              mention_bot=True)
        await discord.wait_for(lambda: len(discord.contents(thread)) == 2)
        assert "8080" in discord.contents(thread)[1], "a mention in the thread is answered"

        await discord.message("What is the default port of the web console?", channel_id=DM_CHANNEL_ID, guild=False)
        [dm] = await discord.wait_for(lambda: discord.contents(DM_CHANNEL_ID))
        assert dm.strip()


async def test_the_intent_is_asked_for_by_default(make_settings: Callable[..., Settings],
                                                  run_discord: RunDiscord) -> None:
    async with run_discord(make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID))) as env:
        assert env.discord.reads_message_content
