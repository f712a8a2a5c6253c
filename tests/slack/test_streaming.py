"""Answers through Slack's text stream, driven through the real Bolt app against the loopback Web API:
the agent's steps while it works, the answer streamed, a final message with sources and feedback
buttons, the fallback to edits where Slack refuses streaming, and the Stop button."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bot.settings import Settings
from tests.support.fake_slack import STOP_ACTION, Call, FakeSlack
from tests.support.openai_server import FakeOpenAI
from tests.support.slack_bot import SlackHarness, payload, running_slack, slack_settings

ANSWER = "The web console listens on **port 8080** [1] & nowhere else."


def _types(blocks: list[dict[str, Any]]) -> list[str]:
    return [block["type"] for block in blocks]


def _has_stop(blocks: list[dict[str, Any]]) -> bool:
    return any(e.get("action_id") == STOP_ACTION for b in blocks for e in b.get("elements", []))


def _chunk_types(call: Call) -> set[str]:
    return {chunk["type"] for chunk in call.params.get("chunks") or []}


def _stream_calls(fake: FakeSlack) -> list[Call]:
    return [c for c in fake.calls if c.method.startswith("chat.") and c.method.endswith("Stream")]


async def _answer_a_mention(settings: Settings, fake_slack: FakeSlack) -> tuple[Call, Call]:
    """(the `chat.startStream`, the final `chat.update`) of one mention answered with no throttle:
    every step and every piece of the answer goes out as it comes."""
    async with running_slack(settings, fake_slack, update_interval_s=0) as slack:
        await slack.seed_guide()
        await slack.event(payload("app_mention"))
        [start] = await fake_slack.wait_for(lambda: fake_slack.of("chat.startStream"))
        final = await fake_slack.wait_for(lambda: fake_slack.final_update(start.ts))
        await slack.adapter.idle()
    return start, final


async def test_a_mention_is_streamed_with_its_steps_then_finished_with_sources_and_feedback(
        make_settings: Callable[..., Settings], fake_slack: FakeSlack, openai_server: FakeOpenAI) -> None:
    openai_server.reply = ANSWER
    start, final = await _answer_a_mention(slack_settings(make_settings, fake_slack, openai_server), fake_slack)

    # Opened in the asker's thread, for the asker (Slack requires the recipient outside DMs), with Stop.
    assert (start.params["channel"], start.params["thread_ts"]) == ("C1", "1700000000.000100")
    assert (start.params["recipient_team_id"], start.params["recipient_user_id"]) == ("T1", "U1")
    stream = fake_slack.streams[start.ts]
    assert _has_stop(stream.block_chunks)

    # The steps came as task updates before the first words, each one completed by the end.
    assert [c.method for c in _stream_calls(fake_slack)][-1] == "chat.stopStream"
    assert [(t["title"], t["status"]) for t in stream.tasks.values()] == [
        ("Searching the documents", "complete"), ("Reading 1 document", "complete"),
        ("Writing the answer from 1 document", "complete")]
    appends = [_chunk_types(c) for c in fake_slack.of("chat.appendStream")]
    first_words = appends.index({"markdown_text"})
    assert appends[:first_words] and all(types == {"task_update"} for types in appends[:first_words])
    # The answer streamed as Markdown (Slack renders it), escaped like everything the bot sends.
    assert appends.count({"markdown_text"}) > 1
    assert stream.text == "The web console listens on **port 8080** [1] &amp; nowhere else."
    assert stream.state == "stopped"
    assert _types(stream.blocks) == ["context", "context_actions"]

    # The final message: a `markdown` block, the sources, Slack's feedback buttons; no Stop, no steps.
    blocks = final.params["blocks"]
    assert _types(blocks) == ["markdown", "context", "context_actions"]
    assert blocks[0]["text"] == "The web console listens on **port 8080** [1] &amp; nowhere else."
    assert blocks[1]["elements"][0]["text"] == "*[1]* guide.md · § Deploy guide &gt; Linux · updated today"
    [buttons] = blocks[2]["elements"]
    assert (buttons["type"], buttons["positive_button"]["value"], buttons["negative_button"]["value"]) == (
        "feedback_buttons", "helpful", "not_helpful")
    assert final.params["text"].startswith("The web console listens on **port 8080** [1] &amp; nowhere else.")
    assert fake_slack.of("chat.postMessage") == [], "no placeholder: the stream is the message"


@pytest.mark.parametrize("refusal", ["channel_type_not_supported", "missing_scope", "ratelimited"])
async def test_where_slack_refuses_streaming_the_answer_is_edited_into_a_placeholder(
        slack: SlackHarness, openai_server: FakeOpenAI, refusal: str) -> None:
    """A free workspace, a channel without streaming, a missing scope, a spent rate budget: today's edits."""
    await slack.seed_guide()
    openai_server.reply = ANSWER
    slack.fake.errors["chat.startStream"] = refusal
    await slack.event(payload("app_mention"))
    [placeholder] = await slack.fake.wait_for(lambda: slack.fake.of("chat.postMessage"))
    assert placeholder.params["thread_ts"] == "1700000000.000100"
    assert placeholder.params["text"] == "_Looking through the documents…_"
    assert _has_stop(placeholder.params["blocks"])
    final = await slack.fake.wait_for(lambda: slack.fake.final_update(placeholder.ts))
    assert _types(final.params["blocks"]) == ["markdown", "context", "context_actions"]
    assert final.params["blocks"][0]["text"] == "The web console listens on **port 8080** [1] &amp; nowhere else."
    await slack.adapter.idle()

    # The next question in the channel: a lasting refusal is remembered, a spent rate budget is not.
    follow_up = payload("message_thread_reply")
    await slack.event(follow_up)
    await slack.fake.wait_for(lambda: len(slack.fake.messages()) == 2)
    await slack.adapter.idle()
    tries = len([c for c in slack.fake.calls if c.method == "chat.startStream"])
    assert tries == (2 if refusal == "ratelimited" else 1)


async def test_a_stream_slack_closes_midway_is_finished_by_editing_the_message(
        make_settings: Callable[..., Settings], fake_slack: FakeSlack, openai_server: FakeOpenAI) -> None:
    openai_server.reply = ANSWER
    fake_slack.stream_appends_allowed = 2  # Slack ends streams after a few minutes
    start, final = await _answer_a_mention(slack_settings(make_settings, fake_slack, openai_server), fake_slack)
    assert fake_slack.streams[start.ts].state == "expired"
    assert fake_slack.of("chat.stopStream") == [], "a closed stream is not stopped again"
    partials = [c for c in fake_slack.of("chat.update") if _has_stop(c.params["blocks"])]
    assert partials, "the rest of the answer went on as edits of the same message"
    assert final.params["blocks"][0]["text"] == "The web console listens on **port 8080** [1] &amp; nowhere else."
    assert fake_slack.of("chat.postMessage") == []


async def test_stop_ends_the_answer_with_what_was_written(
        make_settings: Callable[..., Settings], fake_slack: FakeSlack, openai_server: FakeOpenAI) -> None:
    openai_server.reply = "Part one of a long answer that takes its time."
    openai_server.token_delay_s = 30  # after the first word, the model dawdles until stopped
    async with running_slack(slack_settings(make_settings, fake_slack, openai_server), fake_slack,
                             update_interval_s=0) as slack:
        await slack.seed_guide()
        await slack.event(payload("app_mention"))
        [start] = await fake_slack.wait_for(lambda: fake_slack.of("chat.startStream"))
        await fake_slack.wait_for(lambda: [c for c in fake_slack.of("chat.appendStream")
                                           if "markdown_text" in _chunk_types(c)])

        # Someone else may not stop another person's answer.
        other = payload("block_actions_stop")
        other["user"]["id"] = "U2"
        other["container"]["message_ts"] = start.ts
        assert (await slack.interaction(other))[0] == 200
        [refusal] = await fake_slack.wait_for(lambda: fake_slack.of("chat.postEphemeral"))
        assert (refusal.params["user"], refusal.params["text"]) == ("U2", "Only <@U1> can stop this answer.")

        click = payload("block_actions_stop")
        click["container"]["message_ts"] = start.ts
        assert (await slack.interaction(click))[0] == 200
        final = await fake_slack.wait_for(lambda: fake_slack.final_update(start.ts), timeout=5)
        await slack.adapter.idle()

    assert final.params["blocks"] == [{"type": "markdown", "text": "Part\n\n_Stopped._"}], \
        "what was written, a note, and no feedback buttons on a stopped answer"
    assert fake_slack.streams[start.ts].state == "stopped"
    assert len(openai_server.chat_requests()) == 1


async def test_stop_on_an_edited_answer_before_any_word(slack: SlackHarness, openai_server: FakeOpenAI) -> None:
    """`/ask` answers at the top of the channel, where Slack does not stream: Stop is on the placeholder."""
    await slack.seed_guide()
    openai_server.first_token_delay_s = 30
    await slack.command("/ask", "What is the default port of the web console?")
    [placeholder] = await slack.fake.wait_for(lambda: slack.fake.of("chat.postMessage"))
    assert _has_stop(placeholder.params["blocks"])
    await slack.fake.wait_for(lambda: openai_server.chat_requests())
    click = payload("block_actions_stop")
    click["container"] = {**click["container"], "message_ts": placeholder.ts, "thread_ts": None}
    await slack.interaction(click)
    final = await slack.fake.wait_for(lambda: slack.fake.final_update(placeholder.ts), timeout=5)
    await slack.adapter.idle()
    heading, body = final.params["blocks"]
    assert heading["type"] == "context" and body == {"type": "markdown", "text": "_Stopped before I wrote anything._"}

    day = next(k for k in await slack.teambot.redis.keys("teambot:usage:*:totals"))
    errors = await slack.teambot.redis.hgetall(day.decode().replace(":totals", ":errors"))
    assert {k.decode(): int(v) for k, v in errors.items()} == {"stopped": 1}


async def test_a_stop_click_on_a_finished_answer_does_nothing(slack: SlackHarness) -> None:
    await slack.seed_guide()
    await slack.event(payload("app_mention"))
    [start] = await slack.fake.wait_for(lambda: slack.fake.of("chat.startStream"))
    final = await slack.fake.wait_for(lambda: slack.fake.final_update(start.ts))
    await slack.adapter.idle()
    calls = len(slack.fake.calls)
    click = payload("block_actions_stop")
    click["container"]["message_ts"] = start.ts
    assert (await slack.interaction(click))[0] == 200
    await slack.adapter.idle()
    assert len(slack.fake.calls) == calls
    assert json.dumps(final.params["blocks"]).count("teambot_stop") == 0
