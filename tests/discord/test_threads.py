"""Threads on Discord, through the real discord.py client against the loopback fake: a mention inside a thread
reads it (`GET /channels/{thread}/messages`, paged with `before`) and answers from what people said there;
"Summarize this thread" as `/summarize`, as a message context menu and as a mention; an unreadable thread
still gets an answer; without the message content intent the thread is not read and the bot says why."""

from __future__ import annotations

import logging
from typing import Any

import discord as discord_py
import pytest

from adapters.discord.summary_menu import SUMMARIZE_COMMAND, SUMMARIZE_THIS_THREAD
from adapters.discord.threads import NOT_IN_A_THREAD, WITHOUT_MESSAGE_CONTENT, read_thread
from bot.threads import MAX_THREAD_MESSAGES
from tests.support.discord_bot import MENTION, DiscordHarness, upload_in_channel
from tests.support.fake_discord import BOT_ID, CHANNEL_ID, FakeDiscord

ANNOUNCER, ASKER, EXPERT = 120000000000000002, 120000000000000003, 120000000000000004
"""Three teammates (their display names are `user<id>`)."""
QUESTION = "When does the Falcon freeze start?"


async def freeze_thread(discord: FakeDiscord) -> int:
    """A thread people had about the Falcon freeze, with one earlier answer of the bot's; returns its id."""
    starter = discord.post("Heads up: the deploy freeze for the Falcon release is this week.", author_id=ANNOUNCER)
    thread = await discord.start_thread(starter, "Falcon freeze")
    discord.post("When does the Falcon freeze start exactly?", channel_id=thread, author_id=ASKER)
    discord.post("The Falcon release is owned by Mallory from Legal.", channel_id=thread, author_id=BOT_ID,
                 author_bot=True)
    discord.post("The Falcon freeze starts Friday at 18:00 and lasts until Monday 09:00.", channel_id=thread,
                 author_id=EXPERT)
    discord.post("Thanks! I'll merge my change before then.", channel_id=thread, author_id=ASKER)
    return thread


def history_reads(discord: FakeDiscord, channel_id: int) -> list[dict[str, str]]:
    """The queries of the bot's `GET /channels/{channel_id}/messages` calls, in order."""
    return [c.query for c in discord.calls_to("GET", rf"/channels/{channel_id}/messages")]


async def answer_in(discord: FakeDiscord, channel_id: int, *, count: int = 1) -> str:
    """The `count`-th finished answer (with its sources) the bot posted in a channel or thread."""
    answers = await discord.wait_for(
        lambda: len(found := [c for c in discord.contents(channel_id) if "Sources" in c]) >= count and found)
    return str(answers[count - 1])


async def summary_of(discord: FakeDiscord, used: dict[str, Any]) -> str:
    """The finished response to an interaction that summarizes (the extractive summary names its method)."""
    [summary] = await discord.wait_for(
        lambda: [c for c in discord.interaction_contents(used["token"]) if "Sources" in c])
    return str(summary)


async def test_a_mention_in_a_thread_is_answered_from_what_people_said_there(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    await upload_in_channel(discord_bot)  # the channel's documents say nothing about the freeze
    thread = await freeze_thread(discord)

    question = await discord.message(f"{MENTION} {QUESTION}", channel_id=thread, mention_bot=True)
    answer = await answer_in(discord, thread)

    assert "Friday at 18:00" in answer, "the answer quotes the reply that holds it"
    assert f"**this thread** — user{EXPERT}" in answer, "cited as the thread's message, with its author"
    assert "Mallory" not in answer, "the bot's own earlier answer is no source"
    assert history_reads(discord, thread)[0] == {"limit": "100", "before": question["id"]}, \
        "only what was said before the question, from the newest back"
    assert discord.calls_to("GET", rf"/channels/{CHANNEL_ID}/messages/{thread}"), "the starter, from the channel"

    # The control: asked outside the thread, the documents alone can't say.
    asked = await discord.slash("ask", [{"name": "question", "type": 3, "value": QUESTION}])
    [declined] = await discord.wait_for(lambda: discord.interaction_contents(asked["token"]))
    assert "Friday" not in declined


async def test_a_reply_to_the_bot_in_a_thread_is_answered_with_the_thread(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    thread = await freeze_thread(discord)
    earlier_answer = next(m for m in discord.history[thread] if m["author"]["id"] == str(BOT_ID))

    await discord.message(QUESTION, channel_id=thread, reply_to=earlier_answer)  # the reply's ping turned off
    answer = await answer_in(discord, thread)
    assert "Friday at 18:00" in answer and f"**this thread** — user{EXPERT}" in answer


async def test_a_thread_is_read_page_by_page_and_keeps_its_starter_and_latest_replies(
        discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    client = discord_bot.adapter.client
    assert client is not None

    # Talkative: the latest replies are found in the newest page.
    busy = await discord.start_thread(discord.post("Root: the Falcon launch checklist."), "Checklist")
    for number in range(1, 151):
        discord.post(f"Reply number {number}.", channel_id=busy, author_id=ASKER)
    channel = await discord.wait_for(lambda: client.get_channel(busy))  # once THREAD_CREATE is handled
    assert isinstance(channel, discord_py.Thread)
    read = await read_thread(channel, bot_user_id=BOT_ID)
    assert read[0].text == "Root: the Falcon launch checklist."
    assert [m.text for m in read[1:]] == [f"Reply number {n}." for n in range(112, 151)]
    assert len(read) == MAX_THREAD_MESSAGES
    assert history_reads(discord, busy) == [{"limit": "100"}], "one page held enough"

    # Mostly the bot's answers: people's replies are looked for on the next page, `before` the oldest seen.
    sparse = await discord.start_thread(discord.post("Root: the Falcon incident."), "Incident")
    for number in range(1, 151):
        human = number % 10 == 0
        discord.post(f"Note {number}." if human else f"Answer {number}.", channel_id=sparse,
                     author_id=EXPERT if human else BOT_ID, author_bot=not human)
    channel = await discord.wait_for(lambda: client.get_channel(sparse))
    assert isinstance(channel, discord_py.Thread)
    read = await read_thread(channel, bot_user_id=BOT_ID)
    assert [m.text for m in read] == ["Root: the Falcon incident.", *(f"Note {n}." for n in range(10, 151, 10))]
    first, second = history_reads(discord, sparse)
    oldest_of_first_page = sorted(int(m["id"]) for m in discord.history[sparse])[-100]
    assert first == {"limit": "100"} and second == {"limit": "100", "before": str(oldest_of_first_page)}


async def test_an_unreadable_thread_still_gets_an_answer_from_the_documents(
        discord_bot: DiscordHarness, caplog: pytest.LogCaptureFixture) -> None:
    discord = discord_bot.discord
    await upload_in_channel(discord_bot)
    thread = await freeze_thread(discord)
    discord.unreadable.add(thread)  # 403 Missing Access

    with caplog.at_level(logging.WARNING, logger="adapters.discord.threads"):
        await discord.message(f"{MENTION} What is the default port of the web console?", channel_id=thread,
                              mention_bot=True)
        answer = await answer_in(discord, thread)

    assert "8080" in answer and "guide.md" in answer
    assert history_reads(discord, thread), "it tried"
    assert any("could not read the thread" in r.getMessage() and "Missing Access" in r.getMessage()
               for r in caplog.records), "and says in the log why it answered without the thread"


async def test_summarize_this_thread_as_a_command_a_menu_and_a_mention(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    thread = await freeze_thread(discord)

    used = await discord.slash(SUMMARIZE_COMMAND, channel_id=thread)
    [deferred] = await discord.wait_for(lambda: discord.responses_to(used))
    assert deferred.json["type"] == 5 and not (deferred.json.get("data") or {}).get("flags"), "shown to everyone"
    summary = await summary_of(discord, used)
    assert f"**user{ANNOUNCER}**: Heads up: the deploy freeze for the Falcon release is this week." in summary
    assert f"**user{EXPERT}**: The Falcon freeze starts Friday at 18:00" in summary
    assert "quotes the thread's most central sentences" in summary, "it says it is extractive"
    assert "Mallory" not in summary, "the bot's own messages are not summarized"

    # The context menu, on a reply in the thread and on the channel message that started it.
    reply = discord.history[thread][-1]
    starter = next(m for m in discord.history[CHANNEL_ID] if m["id"] == str(thread))
    for target in (reply, starter):
        used = await discord.message_menu(SUMMARIZE_THIS_THREAD, target)
        assert "Friday at 18:00" in await summary_of(discord, used)

    # A mention that only asks for it.
    await discord.message(f"{MENTION} summarize this thread", channel_id=thread, mention_bot=True)
    summary = await answer_in(discord, thread)
    assert "Friday at 18:00" in summary and "quotes the thread's most central sentences" in summary


async def test_summarize_outside_a_thread_says_why_not(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    used = await discord.slash(SUMMARIZE_COMMAND, channel_id=CHANNEL_ID)
    lone = discord.post("A message that started no thread.")
    menu = await discord.message_menu(SUMMARIZE_THIS_THREAD, lone)
    for interaction in (used, menu):
        [refusal] = await discord.wait_for(lambda i=interaction: discord.responses_to(i))
        assert refusal.json["type"] == 4 and refusal.json["data"]["flags"] & 64, "told to the user alone, at once"
        assert refusal.json["data"]["content"] == NOT_IN_A_THREAD
    assert not discord.calls_to("GET", r"/channels/\d+/messages"), "nothing to read"


async def test_summarize_a_thread_with_nothing_readable_says_so(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    thread = await freeze_thread(discord)
    discord.unreadable.add(thread)
    used = await discord.slash(SUMMARIZE_COMMAND, channel_id=thread)
    [told] = await discord.wait_for(lambda: discord.interaction_contents(used["token"]))
    assert told == "I couldn't read anything to summarize in this thread."


async def test_without_the_message_content_intent_the_thread_is_not_read_and_a_summary_says_why(
        discord_bot_without_content: DiscordHarness) -> None:
    env = discord_bot_without_content
    discord = env.discord
    await upload_in_channel(env)
    thread = await freeze_thread(discord)

    await discord.message(f"{MENTION} What is the default port of the web console?", channel_id=thread,
                          mention_bot=True)
    assert "8080" in await answer_in(discord, thread), "a mention is answered from the documents"

    await discord.message(f"{MENTION} summarize this thread", channel_id=thread, mention_bot=True)
    await discord.wait_for(lambda: WITHOUT_MESSAGE_CONTENT in discord.contents(thread))
    used = await discord.slash(SUMMARIZE_COMMAND, channel_id=thread)
    [refusal] = await discord.wait_for(lambda: discord.responses_to(used))
    assert refusal.json["data"]["content"] == WITHOUT_MESSAGE_CONTENT and refusal.json["data"]["flags"] & 64
    assert history_reads(discord, thread) == [], "other people's messages would all arrive empty"
