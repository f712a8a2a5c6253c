"""Threads, through the real Bolt app against the loopback Web API: a mention inside a thread reads it
(`conversations.replies`) and answers from what people said there; "Summarize this thread" and "Save to
knowledge" message shortcuts; a hostile thread stays bounded; rate limits and failures never stop an answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from adapters.slack import threads
from agent.records import chunk_id
from bot.core.values import Scope
from bot.settings import Settings
from bot.threads import MAX_MESSAGE_CHARS, MAX_THREAD_CHARS, MAX_THREAD_MESSAGES
from tests.support.fake_slack import TEAM_ID, FakeSlack
from tests.support.openai_server import FakeOpenAI
from tests.support.slack_bot import SlackHarness, payload, running_slack, slack_settings

FREEZE_THREAD = [
    {"user": "U1", "text": "Heads up: the deploy freeze for the Falcon release is this week."},
    {"user": "U2", "text": "When does the Falcon freeze start exactly?"},
    {"user": "U3", "text": "The Falcon freeze starts Friday at 18:00 and lasts until Monday 09:00."},
    {"user": "U2", "text": "Thanks! I'll merge my change before then."},
]
MENTION_TS = "1700000000.000100"


def mention_in_thread(root_ts: str, text: str, *, event_id: str = "EvThread1") -> dict[str, Any]:
    body = payload("app_mention")
    body["event"].update(text=f"<@UBOT> {text}", ts=MENTION_TS, event_ts=MENTION_TS, thread_ts=root_ts, user="U4")
    body["event_id"] = event_id
    return body


@pytest.fixture
async def extractive_slack(make_settings: Callable[..., Settings],
                           fake_slack: FakeSlack) -> AsyncIterator[SlackHarness]:
    """HTTP mode with no model configured: answers quote, summaries quote."""
    async with running_slack(slack_settings(make_settings, fake_slack, None), fake_slack) as harness:
        yield harness


async def final_answer(fake: FakeSlack) -> tuple[str, list[str]]:
    """(the final answer's markdown, its source lines) of the one answer posted."""
    [answer] = await fake.wait_for(lambda: fake.messages())
    final = await fake.wait_for(lambda: fake.final_update(answer.ts))
    blocks = final.params["blocks"]
    sources = [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
    return blocks[0]["text"], sources


async def test_a_mention_in_a_thread_is_answered_from_what_people_said_there(
        extractive_slack: SlackHarness) -> None:
    slack = extractive_slack
    await slack.seed_guide()  # the channel's documents say nothing about the freeze
    root = slack.fake.add_thread("C1", FREEZE_THREAD)

    await slack.event(mention_in_thread(root, "When does the Falcon freeze start?"))
    text, sources = await final_answer(slack.fake)
    await slack.adapter.idle()

    assert "Friday at 18:00" in text, "the answer quotes the reply that holds it"
    assert "this thread" in sources[0] and "U3" in sources[0], "cited as the thread's message, with its author"
    assert "quotes this thread directly" in text and "your documents" not in text, "it says where the quote is from"
    [read] = slack.fake.of("conversations.replies")
    assert (read.params["channel"], read.params["ts"]) == ("C1", root)
    assert float(read.params["latest"]) == float(MENTION_TS), "only what was said before the question"


async def test_without_the_thread_the_same_question_is_declined(extractive_slack: SlackHarness) -> None:
    """The control: the thread's words, not the documents, answered it above."""
    slack = extractive_slack
    await slack.seed_guide()
    body = payload("app_mention")
    body["event"]["text"] = "<@UBOT> When does the Falcon freeze start?"
    await slack.event(body)
    text, _ = await final_answer(slack.fake)
    assert "Friday" not in text and "don't know" in text
    assert slack.fake.of("conversations.replies") == [], "a message that starts a thread has nothing to read"


async def test_the_bots_own_replies_are_not_thread_context(extractive_slack: SlackHarness) -> None:
    slack = extractive_slack
    root = slack.fake.add_thread("C1", [
        {"user": "U1", "text": "Who owns the Falcon release?"},
        {"user": "UBOT", "bot_id": "BBOT", "text": "The Falcon release is owned by Mallory from Legal."},
    ])
    await slack.event(mention_in_thread(root, "Who owns the Falcon release?"))
    text, _ = await final_answer(slack.fake)
    assert "Mallory" not in text, "an earlier answer of the bot is no source"


async def test_a_rate_limited_thread_read_waits_as_slack_says_and_still_answers(
        extractive_slack: SlackHarness) -> None:
    slack = extractive_slack
    root = slack.fake.add_thread("C1", FREEZE_THREAD)
    slack.fake.rate_limit["conversations.replies"] = 1  # 429 with Retry-After: 1, then served
    await slack.event(mention_in_thread(root, "When does the Falcon freeze start?"))
    text, _ = await final_answer(slack.fake)
    assert "Friday at 18:00" in text
    assert [c.status for c in slack.fake.calls if c.method == "conversations.replies"] == [429, 200]


async def test_an_unreadable_thread_leaves_the_answer_to_the_documents(extractive_slack: SlackHarness) -> None:
    slack = extractive_slack
    await slack.seed_guide()
    root = slack.fake.add_thread("C1", FREEZE_THREAD)
    slack.fake.errors["conversations.replies"] = "missing_scope"
    await slack.event(mention_in_thread(root, "What is the default port of the web console?"))
    text, sources = await final_answer(slack.fake)
    assert "8080" in text and "guide.md" in sources[0]


async def test_a_long_thread_is_read_page_by_page_and_keeps_its_root_and_latest_replies(
        fake_slack: FakeSlack) -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    messages = [{"user": "U1", "text": "Root: the Falcon launch checklist."}]
    messages += [{"user": f"U{i % 5 + 2}", "text": f"Reply number {i}."} for i in range(1, 450)]
    root = fake_slack.add_thread("C1", messages)
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)

    read = await threads.read_thread(client, channel="C1", thread_ts=root, bot_user_id="UBOT")

    assert len(fake_slack.of("conversations.replies")) == 3, "450 messages in pages of 200"
    assert read[0].text == "Root: the Falcon launch checklist."
    assert [m.text for m in read[1:]] == [f"Reply number {i}." for i in range(411, 450)]
    assert len(read) == MAX_THREAD_MESSAGES


async def test_a_hostile_thread_is_bounded_and_cleaned(extractive_slack: SlackHarness) -> None:
    slack = extractive_slack
    huge = "flood " * 8000  # 48,000 characters, past Slack's own cut
    root = slack.fake.add_thread("C1", [
        {"user": "U1", "text": "Where is the \x1b[31mFalcon\x1b[0m runbook?\u202e\u200b"},
        *[{"user": "U2", "text": huge} for _ in range(30)],
        {"user": "U3", "text": "The Falcon runbook is at <https://wiki.example.com/falcon|the wiki> &amp; "
                               "<@U1> owns it.\x00\x07"},
    ])
    client = slack.adapter.client
    read = await threads.read_thread(client, channel="C1", thread_ts=root, bot_user_id="UBOT")

    assert sum(len(m.text) for m in read) <= MAX_THREAD_CHARS
    assert all(len(m.text) <= MAX_MESSAGE_CHARS for m in read)
    assert read[0].text == "Where is the [31mFalcon[0m runbook?", "control and invisible characters removed"
    assert read[-1].text == "The Falcon runbook is at the wiki (https://wiki.example.com/falcon) & @U1 owns it."

    await slack.event(mention_in_thread(root, "Where is the Falcon runbook?"))
    text, sources = await final_answer(slack.fake)
    assert "wiki.example.com/falcon" in text and "U3" in sources[0]
    assert "flood flood" not in text


# --- "Summarize this thread" -----------------------------------------------------------------------


async def test_summarize_this_thread_without_a_model_quotes_its_central_sentences_with_authors(
        extractive_slack: SlackHarness) -> None:
    slack = extractive_slack
    root = slack.fake.add_thread("C1", FREEZE_THREAD)
    status, _ = await slack.interaction(payload("message_action_summarize"))
    assert status == 200

    text, sources = await final_answer(slack.fake)
    [answer] = slack.fake.messages()
    assert answer.params["thread_ts"] == root, "the summary is posted in the thread"
    assert "**U1**: Heads up: the deploy freeze for the Falcon release is this week." in text
    assert "**U3**: The Falcon freeze starts Friday at 18:00" in text
    assert "quotes the thread's most central sentences" in text, "it says it is extractive"
    assert all("this thread" in line for line in sources)
    final = slack.fake.final_update(answer.ts)
    [feedback] = [b for b in final.params["blocks"] if b["type"] == "context_actions"]
    answer_id = feedback["block_id"].partition(":")[2]
    kept = await slack.teambot.feedback.answer(answer_id)
    assert kept is not None and kept.question == "Summarize this thread", "a summary is rated like an answer"


async def test_summarize_this_thread_with_a_model_sends_the_thread_and_cites_it(
        slack: SlackHarness, openai_server: FakeOpenAI) -> None:
    root = slack.fake.add_thread("C1", FREEZE_THREAD)
    openai_server.reply = "- The Falcon freeze runs Friday 18:00 to Monday 09:00 [3]."
    await slack.event(mention_in_thread(root, "summarize this thread"))

    text, sources = await final_answer(slack.fake)
    assert text.startswith("- The Falcon freeze runs Friday 18:00 to Monday 09:00 [3].")
    assert len(sources) == 1 and "this thread" in sources[0] and "U3" in sources[0]
    [request] = openai_server.chat_requests()
    system = request["body"]["messages"][0]["content"]
    assert "[3] U3" in system and "Friday at 18:00" in system
    assert "guide" not in system, "a summary is of the thread alone"


# --- "Save to knowledge" ---------------------------------------------------------------------------


async def test_save_to_knowledge_stores_the_thread_with_its_link_and_answers_from_it(
        extractive_slack: SlackHarness) -> None:
    slack = extractive_slack
    root = slack.fake.add_thread("C1", FREEZE_THREAD)
    await slack.interaction(payload("message_action_save"))
    await slack.adapter.idle()

    [told] = slack.fake.of("chat.postEphemeral")
    assert told.params["user"] == "U1" and "Saved to this channel's knowledge" in told.params["text"]
    [permalink] = slack.fake.of("chat.getPermalink")
    assert permalink.params["message_ts"] == root, "the link is to the thread, not the message clicked"

    documents = await slack.teambot.knowledge.list_documents([Scope("slack", TEAM_ID, "C1")])
    [document] = documents
    assert document.source == "thread-2023-11-14-1926-heads-up-the-deploy-freeze-for.md"
    first = (await slack.teambot.lexical.get_chunks([chunk_id(document.id, 0)]))[chunk_id(document.id, 0)]
    link = f"https://test.slack.com/archives/C1/p{root.replace('.', '')}"
    assert first.text.startswith(link), "its link first"
    assert document.url == link, "citations of it link to the thread"

    # Saved again (a second click): the same document, replaced rather than doubled.
    await slack.interaction(payload("message_action_save"))
    await slack.adapter.idle()
    assert len(await slack.teambot.knowledge.list_documents([Scope("slack", TEAM_ID, "C1")])) == 1

    # And it answers, outside the thread, citing the saved document.
    body = payload("app_mention")
    body["event"]["text"] = "<@UBOT> When does the Falcon freeze start?"
    await slack.event(body)
    answers = await slack.fake.wait_for(lambda: [m for m in slack.fake.messages() if m.params.get("thread_ts")
                                                 == "1700000000.000100"])
    final = await slack.fake.wait_for(lambda: slack.fake.final_update(answers[0].ts))
    assert "Friday at 18:00" in final.params["blocks"][0]["text"]
    sources = [e["text"] for b in final.params["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert "thread-2023-11-14-1926-heads-up" in sources[0]


async def test_save_to_knowledge_is_refused_to_who_may_not_upload(
        make_settings: Callable[..., Settings], fake_slack: FakeSlack) -> None:
    settings = slack_settings(make_settings, fake_slack, None, uploaders="slack:U9")
    async with running_slack(settings, fake_slack) as slack:
        slack.fake.add_thread("C1", FREEZE_THREAD)
        await slack.interaction(payload("message_action_save"))
        await slack.adapter.idle()
        [told] = fake_slack.of("chat.postEphemeral")
        assert "Can't save this thread" in told.params["text"]
        assert fake_slack.of("conversations.replies") == [], "refused before the thread is read"
        assert await slack.teambot.knowledge.list_documents([Scope("slack", TEAM_ID, "C1")]) == []


async def shortcut_answer(slack: SlackHarness, name: str, **changes: Any) -> str:
    """Use the message shortcut of captured payload `name` (with `changes`); the one line its user was told
    through the shortcut's `response_url`, ephemeral, once nothing could be posted in the channel."""
    body = {**payload(name), "response_url": slack.fake.response_url(f"T1/{name}"), **changes}
    await slack.interaction(body)
    await slack.adapter.idle()
    [told] = slack.fake.of("response_url")
    slack.fake.calls.clear()
    assert told.params["response_type"] == "ephemeral" and not told.params.get("replace_original")
    [line] = told.params["text"].splitlines()
    return line


async def test_shortcuts_where_the_bot_is_not_a_member_tell_their_user_why(extractive_slack: SlackHarness) -> None:
    slack = extractive_slack
    root = slack.fake.add_thread("C1", FREEZE_THREAD)
    for refusal in ("not_in_channel", "channel_not_found"):  # a public channel, a private one
        slack.fake.not_joined["C1"] = refusal
        told = await shortcut_answer(slack, "message_action_summarize")
        assert told.startswith("I can't summarize this thread: I'm not in this channel") and "/invite" in told
        told = await shortcut_answer(slack, "message_action_save")
        assert told.startswith("Nothing was saved: I'm not in this channel") and "/invite" in told
    assert await slack.teambot.knowledge.list_documents([Scope("slack", TEAM_ID, "C1")]) == []

    slack.fake.threads[("D9", root)] = slack.fake.threads[("C1", root)]
    slack.fake.not_joined["D9"] = "channel_not_found"
    told = await shortcut_answer(slack, "message_action_summarize", channel={"id": "D9", "name": "directmessage"})
    assert told == "I can't summarize this thread: I can't read direct messages I'm not part of."

    # Where the bot is a member, its user is told in the channel as before, and the response_url is left alone.
    del slack.fake.not_joined["C1"]
    await slack.interaction({**payload("message_action_save"), "response_url": slack.fake.response_url("T1/ok")})
    await slack.adapter.idle()
    [told_here] = slack.fake.of("chat.postEphemeral")
    assert "Saved to this channel's knowledge" in told_here.params["text"] and not slack.fake.of("response_url")


async def test_a_summary_whose_model_is_down_quotes_the_thread_and_says_why(
        slack: SlackHarness, openai_server: FakeOpenAI) -> None:
    slack.fake.add_thread("C1", FREEZE_THREAD)
    openai_server.fail_status = 503
    await slack.interaction(payload("message_action_summarize"))
    text, _ = await final_answer(slack.fake)
    assert "**U3**: The Falcon freeze starts Friday at 18:00" in text
    assert "No answer from the language model" in text and "quotes the thread" in text


async def test_with_a_model_the_thread_is_a_numbered_source_within_the_context_budget(
        slack: SlackHarness, openai_server: FakeOpenAI) -> None:
    from agent.budget import estimate_message_tokens

    huge = "Falcon " + "flood " * 3000
    root = slack.fake.add_thread("C1", [*FREEZE_THREAD, *[{"user": "U5", "text": huge} for _ in range(8)]])
    openai_server.reply = "It starts Friday at 18:00 [1]."
    await slack.event(mention_in_thread(root, "When does the Falcon freeze start?"))
    text, sources = await final_answer(slack.fake)

    assert text.startswith("It starts Friday at 18:00 [1].")
    [request] = openai_server.chat_requests()
    contents = [m["content"] for m in request["body"]["messages"]]
    assert "[1] this thread (U3, " in contents[0] and "Friday at 18:00" in contents[0]
    assert "U3" in sources[0]
    settings = slack.teambot.settings
    assert estimate_message_tokens(contents) <= settings.model_context_tokens - settings.max_answer_tokens


async def test_a_question_asked_earlier_in_the_thread_is_not_taken_for_its_answer(
        extractive_slack: SlackHarness) -> None:
    slack = extractive_slack
    root = slack.fake.add_thread("C1", [
        {"user": "U1", "text": "Which staging host should Falcon deploys use?"},
        {"user": "U2", "text": "Falcon deploys use staging-2.internal now; the old staging host is retired."},
        {"user": "U5", "text": "Which staging host should Falcon deploys use?"},
    ])
    await slack.event(mention_in_thread(root, "Which staging host should Falcon deploys use?"))
    text, sources = await final_answer(slack.fake)
    assert "staging-2.internal" in text and "U2" in sources[0]
    assert "should Falcon deploys use?" not in text, "a question holds no answer"
