"""Files on mentions, `/upload` modal round trip, `/ask`, `/kb`, feedback buttons."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlencode

from adapters.slack import translate
from bot.core.values import Scope
from tests.support.documents import DEPLOY_GUIDE
from tests.support.fake_slack import BOT_TOKEN, TEAM_ID
from tests.support.openai_server import FakeOpenAI
from tests.support.slack_bot import SlackHarness, payload

C1 = Scope("slack", TEAM_ID, "C1")


async def test_file_attached_to_a_mention_is_downloaded_with_the_bot_token_and_ingested(slack: SlackHarness) -> None:
    body = payload("app_mention_with_files")
    body["event"]["files"] = [slack.fake.add_file("F1", "guide.md", DEPLOY_GUIDE, mimetype="text/markdown")]
    await slack.event(body)

    [post] = await slack.fake.wait_for(lambda: slack.fake.of("chat.postMessage"))
    assert post.params["thread_ts"] == "1700000200.000600"
    assert "✓ Added guide.md" in post.params["text"]
    assert slack.fake.downloads == [{"id": "F1", "auth": f"Bearer {BOT_TOKEN}"}]
    [document] = await slack.teambot.knowledge.list_documents([C1])
    assert (document.source, document.uploader) == ("guide.md", "U1")
    assert document.url == "https://example.slack.com/files/U1/F1/guide.md", "the file's permalink is kept"


async def test_bad_file_is_reported_per_file_and_the_good_one_still_ingested(slack: SlackHarness) -> None:
    body = payload("app_mention_with_files")
    body["event"]["files"] = [
        slack.fake.add_file("F1", "broken.pdf", b"%PDF-1.4 this is not really a pdf", mimetype="application/pdf"),
        slack.fake.add_file("F2", "guide.md", DEPLOY_GUIDE, mimetype="text/markdown"),
        slack.fake.add_file("F3", "huge.txt", b"x" * 64, mimetype="text/plain") | {"size": 10**9},
    ]
    await slack.event(body)
    [post] = await slack.fake.wait_for(lambda: slack.fake.of("chat.postMessage"))
    lines = post.params["text"].splitlines()[1:]
    assert lines[0].startswith("✗ broken.pdf: ")
    assert lines[1].startswith("✓ Added guide.md")
    assert lines[2].startswith("✗ huge.txt: too large")
    assert [d["id"] for d in slack.fake.downloads] == ["F1", "F2"], "an oversized file is never downloaded"
    assert [d.source for d in await slack.teambot.knowledge.list_documents([C1])] == ["guide.md"]


async def test_file_stub_without_url_is_resolved_through_files_info(slack: SlackHarness) -> None:
    slack.fake.add_file("F1", "guide.md", DEPLOY_GUIDE, mimetype="text/markdown")
    body = payload("app_mention_with_files")
    body["event"]["files"] = [{"id": "F1", "name": "guide.md", "file_access": "check_file_info"}]
    await slack.event(body)
    [post] = await slack.fake.wait_for(lambda: slack.fake.of("chat.postMessage"))
    assert "✓ Added guide.md" in post.params["text"]
    assert slack.fake.of("files.info")[0].params["file"] == "F1"


async def test_upload_command_opens_a_modal_and_submission_ingests_into_the_command_channel(
        slack: SlackHarness) -> None:
    status, _ = await slack.command("/upload", "", channel="C1")
    assert status == 200
    [opened] = await slack.fake.wait_for(lambda: slack.fake.of("views.open"))
    view = opened.params["view"]
    assert opened.params["trigger_id"] == "1700000500.1.ghi"
    assert view["blocks"][0]["element"]["type"] == "file_input"
    assert view["blocks"][1]["optional"] is True

    submission = payload("view_submission_upload")
    submission["view"]["private_metadata"] = view["private_metadata"]
    file = slack.fake.add_file("F2", "handbook.md", b"# Handbook\n\nVacation is 25 days a year.\n",
                               mimetype="text/markdown")
    submission["view"]["state"]["values"]["files"]["files"]["files"] = [file]
    status, text = await slack.interaction(submission)
    assert status == 200 and text == "", "an empty ack closes the modal"

    [post] = await slack.fake.wait_for(lambda: slack.fake.of("chat.postMessage"))
    assert post.params["channel"] == "C1"
    assert "✓ Added handbook.md" in post.params["text"]
    [document] = await slack.teambot.knowledge.list_documents([C1])
    assert (document.source, document.note) == ("handbook.md", "HR handbook 2024")


async def test_ask_command_answers_in_the_channel(slack: SlackHarness, openai_server: FakeOpenAI) -> None:
    await slack.seed_guide()
    openai_server.reply = "Port 8080 [1]."
    status, _ = await slack.command("/ask", "What is the default port of the web console?")
    assert status == 200
    [post] = await slack.fake.wait_for(lambda: slack.fake.of("chat.postMessage"))
    assert post.params["channel"] == "C1" and not post.params.get("thread_ts")
    final = await slack.fake.wait_for(lambda: slack.fake.final_update(post.ts))
    heading, answer = final.params["blocks"][:2]
    assert "<@U1> asked: What is the default port" in heading["elements"][0]["text"]
    assert answer == {"type": "markdown", "text": "Port 8080 [1]."}


async def test_kb_lists_and_deletes_the_channel_documents(slack: SlackHarness) -> None:
    await slack.seed_guide()
    await slack.command("/kb", "")
    [listing] = await slack.fake.wait_for(lambda: slack.fake.of("chat.postEphemeral"))
    assert listing.params["user"] == "U1" and "guide.md" in listing.params["text"]

    await slack.command("/kb", "delete guide.md")
    deleted = await slack.fake.wait_for(lambda: slack.fake.of("chat.postEphemeral")[1:])
    assert deleted[0].params["text"].startswith("Deleted guide.md")
    assert await slack.teambot.knowledge.list_documents([C1]) == []


async def _votes_once_thanked(slack: SlackHarness) -> tuple[int | None, int | None]:
    """(helpful, not helpful) counted today, once the two voters were thanked."""
    await slack.fake.wait_for(lambda: len(slack.fake.of("chat.postEphemeral")) == 2)
    await slack.adapter.idle()
    day = next(k for k in await slack.teambot.redis.keys("teambot:usage:*:totals"))
    totals = await slack.teambot.usage.day_totals(day.decode().split(":")[2])
    return totals.get("helpful"), totals.get("not_helpful")


async def test_feedback_click_is_recorded_once_per_person(slack: SlackHarness) -> None:
    click = payload("block_actions_feedback")
    assert (await slack.interaction(click))[0] == 200
    await slack.fake.wait_for(lambda: slack.fake.of("chat.postEphemeral"))
    await slack.interaction(click)
    not_helpful = payload("block_actions_feedback")
    not_helpful["user"]["id"] = "U2"
    not_helpful["actions"][0]["action_id"] = "teambot_feedback_not_helpful"
    await slack.interaction(not_helpful)
    assert await _votes_once_thanked(slack) == (1, 1)


async def test_feedback_buttons_click_is_recorded_once_per_person(slack: SlackHarness) -> None:
    """Answers carry Slack's `feedback_buttons`: one action, the value says 👍 or 👎."""
    not_helpful = payload("block_actions_feedback_buttons")
    assert (await slack.interaction(not_helpful))[0] == 200
    await slack.interaction(not_helpful)  # the same person again: still one vote
    helpful = payload("block_actions_feedback_buttons")
    helpful["user"]["id"] = "U2"
    helpful["actions"][0]["value"] = "helpful"
    await slack.interaction(helpful)
    assert await _votes_once_thanked(slack) == (1, 1)


async def test_replayed_commands_and_submissions_run_once(slack: SlackHarness, openai_server: FakeOpenAI) -> None:
    """The same signed request sent three times (a replay within Slack's 5 minutes) is acknowledged, not rerun."""
    await slack.seed_guide()
    openai_server.reply = "Port 8080 [1]."
    form = payload("slash_command_ask")
    form.update(command="/ask", text="What is the default port of the web console?", trigger_id="1700000600.7.rpl")
    ask, now = urlencode(form), int(time.time())
    for _ in range(3):
        status, _ = await slack.post(ask, content_type="application/x-www-form-urlencoded", timestamp=now)
        assert status == 200

    submission = payload("view_submission_upload")
    submission["view"]["private_metadata"] = translate.UploadTarget(
        workspace=TEAM_ID, channel="C2", user="U1", workspace_wide=False).to_metadata()
    file = slack.fake.add_file("F2", "handbook.md", b"# Handbook\n\nVacation is 25 days a year.\n",
                               mimetype="text/markdown")
    submission["view"]["state"]["values"]["files"]["files"]["files"] = [file]
    submitted = urlencode({"payload": json.dumps(submission)})
    for _ in range(3):
        status, _ = await slack.post(submitted, content_type="application/x-www-form-urlencoded", timestamp=now)
        assert status == 200

    await slack.fake.wait_for(lambda: len(slack.fake.of("chat.postMessage")) >= 2)
    await asyncio.sleep(0.2)
    await slack.adapter.idle()
    posts = slack.fake.of("chat.postMessage")
    assert len(posts) == 2, [p.params.get("text") for p in posts]
    assert sum("handbook.md" in (p.params.get("text") or "") for p in posts) == 1
