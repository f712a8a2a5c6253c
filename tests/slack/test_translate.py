"""Captured Slack payloads -> normalized values (pure functions, no I/O)."""

from __future__ import annotations

import json

import pytest

from adapters.slack import translate
from adapters.slack.mrkdwn import to_mrkdwn
from tests.support.slack_bot import payload

BOT = "UBOT"


def test_app_mention_becomes_a_message_in_the_mentions_thread() -> None:
    body = payload("app_mention")
    assert translate.route_event(body["event"], bot_user_id=BOT) == "mention"
    message = translate.message_from_event(body, bot_user_id=BOT)
    assert (message.platform, message.workspace, message.channel) == ("slack", "T1", "C1")
    assert message.thread == "1700000000.000100", "a top-level mention starts its own thread"
    assert message.text == "What is the default port of the web console?"
    assert (message.user, message.mentions_bot, message.is_dm, message.event_id) == ("U1", True, False, "Ev0001")


def test_thread_reply_is_a_possible_follow_up_in_the_parent_thread() -> None:
    body = payload("message_thread_reply")
    assert translate.route_event(body["event"], bot_user_id=BOT) == "maybe_follow_up"
    assert translate.message_from_event(body, bot_user_id=BOT).thread == "1700000000.000100"


def test_direct_message() -> None:
    body = payload("message_im")
    assert translate.route_event(body["event"], bot_user_id=BOT) == "dm"
    message = translate.message_from_event(body, bot_user_id=BOT)
    assert (message.channel, message.thread, message.is_dm) == ("D1", "1700000100.000300", True)


@pytest.mark.parametrize("name", ["message_changed", "message_deleted", "bot_message", "own_message"])
def test_edits_deletions_bots_and_itself_are_ignored(name: str) -> None:
    assert translate.route_event(payload(name)["event"], bot_user_id=BOT) == "ignore"


def test_channel_message_with_a_mention_is_left_to_app_mention() -> None:
    event = payload("app_mention")["event"] | {"type": "message", "channel_type": "channel"}
    assert translate.route_event(event, bot_user_id=BOT) == "ignore"


def test_files_of_a_mention_become_attachments_to_download() -> None:
    message = translate.message_from_event(payload("app_mention_with_files"), bot_user_id=BOT)
    [attachment] = message.attachments
    assert attachment.name == "guide.md" and attachment.data is None
    assert attachment.url == "https://files.slack.com/files-pri/T1-F1/download/guide.md"
    assert (attachment.size, attachment.mime_type) == (300, "text/markdown")
    assert attachment.source_url == "https://example.slack.com/files/U1/F1/guide.md", "what citations link to"
    assert message.text == "here is the guide"


def test_upload_submission_carries_channel_files_and_note() -> None:
    submission = translate.upload_submission(payload("view_submission_upload"))
    assert submission.target == translate.UploadTarget(workspace="T1", channel="C1", user="U1")
    assert [a.name for a in submission.files] == ["handbook.md"]
    assert submission.file_ids == {"handbook.md": "F2"}
    assert submission.note == "HR handbook 2024"


def test_upload_target_round_trips_through_private_metadata() -> None:
    command = payload("slash_command_ask") | {"command": "/upload", "channel_id": "C9"}
    target = translate.upload_target_from_command(command)
    assert json.loads(target.to_metadata()) == {"workspace": "T1", "channel": "C9", "user": "U1",
                                                "workspace_wide": False}
    assert target.scope.key == "slack:T1:C9"


def test_upload_everywhere_targets_the_workspace_scope() -> None:
    command = payload("slash_command_ask") | {"command": "/upload", "channel_id": "C9", "text": " Everywhere "}
    target = translate.upload_target_from_command(command)
    assert target.workspace_wide and target.scope.key == "slack:T1:*"
    body = {"user": {"id": "U1"}, "view": {"private_metadata": target.to_metadata(), "state": {"values": {}}}}
    assert translate.upload_submission(body).target == target


def test_feedback_click() -> None:
    feedback = translate.feedback_from_action(payload("block_actions_feedback"))
    assert feedback == translate.Feedback(helpful=True, user="U1", channel="C1", message_ts="1700000001.000100")


def test_feedback_buttons_click_says_which_by_its_value() -> None:
    click = payload("block_actions_feedback_buttons")
    assert translate.feedback_from_action(click) == translate.Feedback(
        helpful=False, user="U1", channel="C1", message_ts="1700000001.000100")
    click["actions"][0]["value"] = "helpful"
    assert translate.feedback_from_action(click).helpful is True  # type: ignore[union-attr]
    click["actions"][0]["value"] = "something else"
    assert translate.feedback_from_action(click) is None


def test_feedback_buttons_name_their_answer_in_the_block_id() -> None:
    click = payload("block_actions_feedback_buttons")
    click["actions"][0]["block_id"] = "teambot_feedback:0123abcd"
    assert translate.feedback_from_action(click).answer_id == "0123abcd"  # type: ignore[union-attr]
    click["actions"][0]["block_id"] = "teambot_feedback:not an id!"
    assert translate.feedback_from_action(click).answer_id is None, "only what the bot writes there"  # type: ignore[union-attr]


def test_reason_click_names_the_reason_and_the_answer() -> None:
    click = payload("block_actions_feedback_buttons")
    click["response_url"] = "https://hooks.slack.com/actions/T1/2/abc"
    click["actions"] = [{"type": "button", "action_id": "teambot_why", "block_id": "teambot_why:0123abcd",
                         "value": "outdated"}]
    assert translate.reason_from_action(click) == translate.ReasonChoice(
        reason="outdated", answer_id="0123abcd", user="U1", channel="C1",
        response_url="https://hooks.slack.com/actions/T1/2/abc")
    assert translate.feedback_from_action(click) is None, "a reason is no vote"
    click["actions"][0]["block_id"] = "teambot_why"
    assert translate.reason_from_action(click) is None, "no answer named: nothing to attach it to"


def test_stop_click() -> None:
    assert translate.stop_from_action(payload("block_actions_stop")) == translate.StopRequest(
        user="U1", channel="C1", message_ts="1700000001.000100")
    assert translate.stop_from_action(payload("block_actions_feedback")) is None


def test_ask_command_becomes_a_message() -> None:
    message = translate.message_from_command(payload("slash_command_ask"), thread="1700000009.000100")
    assert (message.channel, message.thread, message.text) == (
        "C1", "1700000009.000100", "What is the default port of the web console?")


def test_markdown_becomes_mrkdwn() -> None:
    markdown = "## Setup\nRun **make install** and *then* see [docs](https://example.com/d).\n- a < b & c\n`**raw**`"
    # The last line continues the list item (CommonMark's lazy continuation), so it is indented with it.
    assert to_mrkdwn(markdown) == (
        "*Setup*\nRun *make install* and _then_ see <https://example.com/d|docs>.\n• a &lt; b &amp; c\n  `**raw**`"
    )


def test_emphasis_against_korean_particles_stays_emphasis() -> None:
    # Slack only sees `*bold*` standing apart from the words around it; Korean attaches particles.
    assert to_mrkdwn("**연차**는 15일입니다.") == "*연차*\u200b는 15일입니다."
    assert to_mrkdwn("올해**연차**") == "올해\u200b*연차*"
    # CommonMark alone would leave this one as `**…**`: punctuation inside, a letter outside.
    assert to_mrkdwn("**마크다운(Markdown)**의 문법") == "*마크다운(Markdown)*\u200b의 문법"


def test_a_table_becomes_an_aligned_code_block() -> None:
    table = "| 종류 | 일수 |\n|---|---:|\n| 연차 | 15 |\n| sick leave | 10 |"
    assert to_mrkdwn(table) == (
        "```\n"
        "종류       | 일수\n"  # Korean characters take two columns
        "-----------+-----\n"
        "연차       | 15\n"
        "sick leave | 10\n"
        "```"
    )


def test_a_quote_stays_a_quote() -> None:
    assert to_mrkdwn("> 연차는 **15일**입니다\n> 병가는 10일\n\n그 외") == (
        "> 연차는 *15일*\u200b입니다\n> 병가는 10일\n\n그 외"
    )


def test_a_link_whose_url_holds_parentheses_keeps_its_whole_url() -> None:
    assert to_mrkdwn("[휴가 규정](https://wiki.example.com/Leave_(policy)) 참고") == (
        "<https://wiki.example.com/Leave_(policy)|휴가 규정> 참고"
    )
    # Only web and mail links become links; anything else is shown, not followed.
    assert to_mrkdwn("[x](javascript:alert(1)) [y](/relative)") == "[x](javascript:alert(1)) y (/relative)"
