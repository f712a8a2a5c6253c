"""Slack's agent view (issue 21): a conversation opened with the app gets suggested prompts from the documents
its user can ask about and the unanswered questions where they read, never from another workspace or a
channel they are not looking at; a question in it is answered like any DM and titles the thread once."""

from __future__ import annotations

from typing import Any

from adapters.slack import translate
from bot.core.values import QuestionRecord, Scope, Visibility
from tests.support.documents import DEPLOY_GUIDE
from tests.support.fake_slack import TEAM_ID
from tests.support.openai_server import FakeOpenAI
from tests.support.slack_bot import SlackHarness, payload

EVERYWHERE = Scope("slack", TEAM_ID, "*")


async def _asked(slack: SlackHarness, question: str, *, workspace: str = TEAM_ID, channel: str,
                 visibility: Visibility, answered: bool = False, cited: tuple[str, ...] = ()) -> None:
    await slack.teambot.usage.record_question(QuestionRecord(
        platform="slack", workspace=workspace, channel=channel, user="U9", question=question, answered=answered,
        mode="llm" if answered else "none", first_token_s=0.1, total_s=0.2, cited_sources=cited,
        visibility=visibility))


async def _prompts_set(slack: SlackHarness, count: int = 1) -> list[dict[str, Any]]:
    calls = await slack.fake.wait_for(
        lambda: len(slack.fake.of("assistant.threads.setSuggestedPrompts")) >= count
        and slack.fake.of("assistant.threads.setSuggestedPrompts"))
    return [dict(call.params) for call in calls]


async def test_a_new_thread_gets_prompts_from_cited_documents_and_unanswered_questions_it_may_see(
        slack: SlackHarness) -> None:
    await slack.teambot.knowledge.ingest(name="guide.md", data=DEPLOY_GUIDE, scope=EVERYWHERE, uploader="U1")
    await slack.teambot.knowledge.ingest(name="lunch.md", data=b"# Lunch\n\nBibimbap on Fridays.\n",
                                         scope=EVERYWHERE, uploader="U1")
    await slack.teambot.knowledge.ingest(name="private.md", data=b"# Falcon\n\nThe launch code.\n",
                                         scope=Scope("slack", TEAM_ID, "C9"), uploader="U1")
    await _asked(slack, "How do I deploy?", channel="C1", visibility="public", answered=True, cited=("guide.md",))
    await _asked(slack, "Where is the VPN guide?", channel="C1", visibility="public")  # where the user looks
    await _asked(slack, "What did I ask before?", channel="D1", visibility="private")  # the user's own DM
    await _asked(slack, "When is the Falcon launch?", channel="C9", visibility="private")  # another channel
    await _asked(slack, "What is the other team's secret?", workspace="T2", channel="C1", visibility="public")

    status, _ = await slack.event(payload("assistant_thread_started"))
    assert status == 200
    [call] = await _prompts_set(slack)
    assert (call["channel_id"], call["thread_ts"]) == ("D1", "1700000600.000100")
    assert call["title"] == "Suggested from your team's documents"
    prompts = call["prompts"]
    assert prompts[0] == {"title": "What's in Deploy guide?",
                          "message": "What are the main points of Deploy guide (guide.md)?"}, "the most cited first"
    titles = [p["title"] for p in prompts]
    assert len(prompts) == 4 and set(titles) == {
        "What's in Deploy guide?", "Where is the VPN guide?", "What did I ask before?", "What's in Lunch?"}
    assert all(p["title"] and p["message"] for p in prompts)
    # Another workspace, a channel the user is not looking at, and its documents never appear.
    assert not any(word in str(prompts) for word in ("secret", "Falcon", "private.md"))


async def test_moving_to_another_channel_suggests_from_that_one(slack: SlackHarness) -> None:
    await _asked(slack, "Where is the VPN guide?", channel="C1", visibility="public")
    await _asked(slack, "Who approves expenses?", channel="C2", visibility="public")
    await slack.event(payload("assistant_thread_started"))
    await _prompts_set(slack)
    await slack.event(payload("assistant_thread_context_changed"))
    first, second = await _prompts_set(slack, 2)
    assert [p["title"] for p in first["prompts"]] == ["Where is the VPN guide?"]
    assert [p["title"] for p in second["prompts"]] == ["Who approves expenses?"]


async def test_nothing_to_suggest_sets_no_prompts(slack: SlackHarness) -> None:
    await slack.event(payload("assistant_thread_started"))
    await slack.adapter.idle()
    assert slack.fake.of("assistant.threads.setSuggestedPrompts") == []


async def test_a_question_in_the_thread_is_answered_and_titles_it_once(slack: SlackHarness,
                                                                        openai_server: FakeOpenAI) -> None:
    await slack.seed_guide("*")
    openai_server.reply = "Use make install [1]."
    body = payload("message_assistant_thread")
    body["event"]["text"] = "How do I deploy\non   Linux &amp; Mac?"
    await slack.event(body)
    [answer] = await slack.fake.wait_for(lambda: slack.fake.messages())
    assert (answer.params["channel"], answer.params["thread_ts"]) == ("D1", "1700000600.000100")
    [title] = slack.fake.of("assistant.threads.setTitle")
    assert (title.params["channel_id"], title.params["thread_ts"]) == ("D1", "1700000600.000100")
    assert title.params["title"] == "How do I deploy on Linux & Mac?"
    assert slack.fake.of("assistant.threads.setStatus"), "answered like a DM: with the thread's loading status"
    await slack.adapter.idle()

    follow_up = payload("message_assistant_thread")
    follow_up["event_id"], follow_up["event"]["ts"] = "Ev0630", "1700000630.000100"
    follow_up["event"]["text"] = "And on Windows?"
    await slack.event(follow_up)
    await slack.fake.wait_for(lambda: len(slack.fake.messages()) == 2)
    await slack.adapter.idle()
    assert len(slack.fake.of("assistant.threads.setTitle")) == 1, "the first question stays the title"


def test_a_viewed_channel_of_another_team_is_not_used() -> None:
    body = payload("assistant_thread_started")
    thread = translate.assistant_thread_of(body)
    assert thread is not None and thread.viewing == "C1"
    assert (thread.place.workspace, thread.place.channel, thread.place.thread, thread.place.user) == (
        "T1", "D1", "1700000600.000100", "U2")
    assert thread.place.is_dm and thread.place.visibility == "private"
    body["event"]["assistant_thread"]["context"]["team_id"] = "T2"  # a Slack Connect channel
    shared = translate.assistant_thread_of(body)
    assert shared is not None and shared.viewing is None
    del body["event"]["assistant_thread"]["user_id"]
    assert translate.assistant_thread_of(body) is None
