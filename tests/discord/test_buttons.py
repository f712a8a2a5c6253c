"""The Stop button under a Discord answer: a persistent view, through the real discord.py client."""

from __future__ import annotations

from collections.abc import Callable

from adapters.discord.views import STOP_ID
from bot.settings import Settings
from tests.support.discord_bot import MENTION, DiscordHarness, RunDiscord, upload_in_channel
from tests.support.fake_discord import GUILD_ID, HUMAN_ID, FakeDiscord
from tests.support.openai_server import FakeOpenAI

SOMEONE_ELSE = 120000000000000002


def _with_stop(discord: FakeDiscord, channel_id: int) -> list[str]:
    """The ids of the bot's messages in `channel_id` that carry the Stop button now."""
    posted = [c.message_id for c in discord.calls_to("POST", rf"/channels/{channel_id}/messages") if c.message_id]
    return [m for m in posted if STOP_ID in discord.custom_ids(m)]


async def test_only_the_asker_stops_an_answer_which_keeps_what_was_written(
        discord_bot_llm: DiscordHarness, openai_server: FakeOpenAI) -> None:
    discord = discord_bot_llm.discord
    await upload_in_channel(discord_bot_llm)
    openai_server.reply = "Part one of a long answer that takes its time."
    openai_server.token_delay_s = 30  # after the first word, the model dawdles until stopped
    await discord.message(f"{MENTION} How do I deploy on Linux?", mention_bot=True)
    thread = await discord.wait_for(lambda: len(discord.thread_ids()) == 2 and discord.thread_ids()[-1])
    [message] = await discord.wait_for(lambda: _with_stop(discord, thread))
    assert discord.shown(message).startswith("Part "), "the Stop button comes with the first words"

    other = await discord.click(STOP_ID, message_id=message, channel_id=thread, user_id=SOMEONE_ELSE)
    [refusal] = await discord.wait_for(lambda: discord.responses_to(other))
    assert refusal.json["type"] == 4 and refusal.json["data"]["flags"] & 64, "an answer only the clicker sees"
    assert refusal.json["data"]["content"] == f"Only <@{HUMAN_ID}> can stop this answer."
    assert _with_stop(discord, thread) == [message], "still running"

    mine = await discord.click(STOP_ID, message_id=message, channel_id=thread)
    [ack] = await discord.wait_for(lambda: discord.responses_to(mine))
    assert ack.json["type"] == 6, "acknowledged without a message: the answer's last edit shows it"
    await discord.wait_for(lambda: not _with_stop(discord, thread))
    assert discord.shown(message) == "Part\n\n_Stopped._"
    assert discord.buttons(message) == [], "the last edit takes the Stop button away"
    assert len(discord_bot_llm.adapter.running) == 0
    assert len(openai_server.chat_requests()) == 1

    again = await discord.click(STOP_ID, message_id=message, channel_id=thread)
    [late] = await discord.wait_for(lambda: discord.responses_to(again))
    assert late.json["data"]["content"] == "This answer is no longer running."


async def test_a_stop_on_a_finished_answer_or_after_a_restart_says_it_no_longer_runs(
        make_settings: Callable[..., Settings], run_discord: RunDiscord) -> None:
    """A message from before a restart keeps its button; the new process still answers its clicks."""
    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID))
    async with run_discord(settings) as env:
        discord = env.discord
        # A message with a Stop button posted by an earlier process: this one never saw it.
        old = await discord.click(STOP_ID, message_id="180000000000000009")
        [answer] = await discord.wait_for(lambda: discord.responses_to(old))
    assert answer.json["type"] == 4 and answer.json["data"]["flags"] & 64
    assert answer.json["data"]["content"] == "This answer is no longer running."


async def test_a_slash_ask_can_be_stopped_too(discord_bot_llm: DiscordHarness, openai_server: FakeOpenAI) -> None:
    discord = discord_bot_llm.discord
    await upload_in_channel(discord_bot_llm)
    openai_server.reply = "Part one of a long answer that takes its time."
    openai_server.token_delay_s = 30
    ask = await discord.slash("ask", [{"name": "question", "type": 3, "value": "How do I deploy on Linux?"}])
    original = await discord.wait_for(
        lambda: next((c.message_id for c in discord.calls if c.message_id and f"/{ask['token']}/" in c.path
                      and STOP_ID in discord.custom_ids(c.message_id)), None))
    mine = await discord.click(STOP_ID, message_id=original)
    await discord.wait_for(lambda: discord.responses_to(mine))
    await discord.wait_for(lambda: discord.shown(original).endswith("_Stopped._"))
    assert discord.buttons(original) == []
