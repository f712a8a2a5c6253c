"""Feedback that counts, through the real Bolt app: a 👎 on an answer is stored with the answer it rates
(question, cited documents and passages, where it was asked, a link to the message), its voter is asked
what was wrong, and the reason reaches `/stats` and the report of that workspace only."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from bot.core.values import Scope
from bot.usage import pseudonym
from tests.support.documents import DEPLOY_GUIDE
from tests.support.fake_slack import TEAM_ID
from tests.support.openai_server import FakeOpenAI
from tests.support.slack_bot import SlackHarness, payload

QUESTION = "What is the default port of the web console?"


async def answered_in_c1(slack: SlackHarness, openai_server: FakeOpenAI) -> tuple[str, dict[str, Any]]:
    """A mention in T1's C1 answered from guide.md: (the answer's ts, its feedback block)."""
    await slack.seed_guide()
    openai_server.reply = "The web console listens on **port 8080** [1]."
    await slack.event(payload("app_mention"))
    [answer] = await slack.fake.wait_for(lambda: slack.fake.messages())
    final = await slack.fake.wait_for(lambda: slack.fake.final_update(answer.ts))
    [feedback] = [b for b in final.params["blocks"] if b["type"] == "context_actions"]
    await slack.adapter.idle()
    return answer.ts, feedback


def click(feedback_block: dict[str, Any], *, ts: str, value: str, user: str = "U1") -> dict[str, Any]:
    """What Slack sends when `user` clicks 👍 (`helpful`) or 👎 (`not_helpful`) on the answer `ts`."""
    body = payload("block_actions_feedback_buttons")
    body["user"]["id"] = user
    body["container"]["message_ts"] = body["message"]["ts"] = ts
    body["actions"][0].update(block_id=feedback_block["block_id"], value=value)
    return body


async def stats(slack: SlackHarness, *, team: str, channel: str) -> str:
    form = payload("slash_command_ask")
    form.update(command="/stats", text="week", team_id=team, channel_id=channel, user_id="U1",
                trigger_id=slack.next_trigger_id())
    before = len(slack.fake.of("chat.postEphemeral"))
    await slack.post(urlencode(form), content_type="application/x-www-form-urlencoded")
    answers = await slack.fake.wait_for(lambda: slack.fake.of("chat.postEphemeral")[before:])
    return str(answers[0].params["text"])


async def test_a_not_helpful_vote_with_a_reason_reaches_stats_and_the_operator_list(
        slack: SlackHarness, openai_server: FakeOpenAI) -> None:
    ts, feedback = await answered_in_c1(slack, openai_server)
    assert feedback["block_id"].startswith("teambot_feedback:"), "the buttons name the answer they rate"

    await slack.interaction(click(feedback, ts=ts, value="not_helpful"))
    # The voter is asked, only them, what was wrong: one button per reason.
    [offer] = await slack.fake.wait_for(lambda: slack.fake.of("chat.postEphemeral"))
    assert offer.params["user"] == "U1"
    [buttons] = [b for b in offer.params["blocks"] if b["type"] == "actions"]
    assert [e["value"] for e in buttons["elements"]] == ["outdated", "wrong_document", "missing", "other"]

    choice = payload("block_actions_feedback_buttons")
    choice["container"].update(is_ephemeral=True, message_ts=offer.result["message_ts"])
    choice["response_url"] = slack.fake.response_url("T1/why")
    choice["actions"] = [{"type": "button", "action_id": "teambot_why", "block_id": buttons["block_id"],
                          "value": "outdated", "text": {"type": "plain_text", "text": "Outdated"}}]
    await slack.interaction(choice)
    [thanks] = await slack.fake.wait_for(lambda: slack.fake.of("response_url"))
    assert thanks.params["replace_original"] is True and "outdated" in thanks.params["text"]

    [vote] = await slack.teambot.commands.feedback_votes(days=1)
    assert (vote.helpful, vote.reason) == (False, "outdated")
    answer = vote.answer
    assert (answer.platform, answer.workspace, answer.channel, answer.question) == ("slack", "T1", "C1", QUESTION)
    assert answer.documents == ["guide.md"] and answer.citations[0].chunk_id.startswith(
        answer.citations[0].document_id + ":"), "the cited document and passage are kept"
    assert vote.link == (f"https://test.slack.com/archives/C1/p{ts.replace('.', '')}"
                         "?thread_ts=1700000000.000100&cid=C1"), "the permalink of the answer in its thread"
    assert "U1" not in (vote.voter, answer.asker), "people are kept as pseudonyms"

    shown = await stats(slack, team="T1", channel="C1")
    assert "*Answers rated not helpful*" in shown
    assert QUESTION in shown and "why: outdated" in shown and "`guide.md`" in shown
    assert f"<{vote.link.replace('&', '&amp;')}|message>" in shown, "a link to the rated answer (mrkdwn-escaped)"
    assert "*Documents cited in answers rated not helpful*" in shown


async def test_another_workspaces_stats_show_nothing_of_the_vote(
        slack: SlackHarness, openai_server: FakeOpenAI) -> None:
    ts, feedback = await answered_in_c1(slack, openai_server)
    await slack.interaction(click(feedback, ts=ts, value="not_helpful"))
    await slack.fake.wait_for(lambda: slack.fake.of("chat.postEphemeral"))
    await slack.adapter.idle()

    elsewhere = await stats(slack, team="T2", channel="C2")
    assert QUESTION not in elsewhere and "guide.md" not in elsewhere
    assert "rated not helpful" not in elsewhere
    # A click forged with T1's answer id in another workspace reaches nothing of it.
    forged = click(feedback, ts=ts, value="not_helpful", user="U7")
    forged["team"]["id"] = forged["user"]["team_id"] = "T2"
    await slack.interaction(forged)
    await slack.adapter.idle()
    votes = await slack.teambot.commands.feedback_votes(days=1)
    assert [v.voter for v in votes] == [pseudonym("slack", "U1")], "a vote never reaches another workspace's answer"


async def test_a_helpful_vote_is_thanked_and_stored_without_asking_why(
        slack: SlackHarness, openai_server: FakeOpenAI) -> None:
    ts, feedback = await answered_in_c1(slack, openai_server)
    await slack.interaction(click(feedback, ts=ts, value="helpful", user="U2"))
    [thanks] = await slack.fake.wait_for(lambda: slack.fake.of("chat.postEphemeral"))
    assert thanks.params["text"] == "Thanks for the feedback!" and not thanks.params.get("blocks")
    [vote] = await slack.teambot.commands.feedback_votes(days=1, helpful=True)
    assert vote.answer.documents == ["guide.md"]
    assert await slack.teambot.commands.feedback_votes(days=1, helpful=False) == []


async def test_a_vote_on_an_answer_from_before_feedback_was_kept_is_only_counted(slack: SlackHarness) -> None:
    await slack.teambot.knowledge.ingest(name="guide.md", data=DEPLOY_GUIDE, scope=Scope("slack", TEAM_ID, "C1"),
                                         uploader="U1")
    old = payload("block_actions_feedback_buttons")  # its block names no answer
    await slack.interaction(old)
    [thanks] = await slack.fake.wait_for(lambda: slack.fake.of("chat.postEphemeral"))
    assert thanks.params["text"] == "Thanks for the feedback!"
    assert await slack.teambot.commands.feedback_votes(days=1) == []
