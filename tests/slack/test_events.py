"""Events API over signed HTTP: mentions, follow-ups, DMs, duplicates, signatures, errors."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

from tests.support.fake_slack import BOT_TOKEN
from tests.support.openai_server import FakeOpenAI
from tests.support.slack_bot import SIGNING_SECRET, SlackHarness, payload


async def test_mention_is_answered_in_its_thread_with_sources_and_buttons(
        slack: SlackHarness, openai_server: FakeOpenAI) -> None:
    await slack.seed_guide()
    openai_server.reply = "The web console listens on **port 8080** [1]."
    started = time.monotonic()
    status, _ = await slack.event(payload("app_mention"))
    assert status == 200
    # Slack retries an event not acknowledged within 3 s: the answer must not be awaited before the ack.
    assert time.monotonic() - started < 3.0, "Slack needs its ack within 3 s"

    [answer] = await slack.fake.wait_for(lambda: slack.fake.messages())
    assert answer.method == "chat.startStream", "a reply in a thread is streamed"
    assert answer.params["channel"] == "C1"
    assert answer.params["thread_ts"] == "1700000000.000100"
    assert answer.params["_auth"] == f"Bearer {BOT_TOKEN}"
    final = await slack.fake.wait_for(lambda: slack.fake.final_update(answer.ts))

    blocks = final.params["blocks"]
    assert blocks[0] == {"type": "markdown", "text": "The web console listens on **port 8080** [1]."}
    [sources] = [b for b in blocks if b["type"] == "context"]
    assert sources["elements"][0]["text"] == "*[1]* guide.md · § Deploy guide &gt; Linux · updated today"
    [feedback] = [b for b in blocks if b["type"] == "context_actions"]
    assert [(e["type"], e["positive_button"]["value"], e["negative_button"]["value"]) for e in feedback["elements"]] \
        == [("feedback_buttons", "helpful", "not_helpful")]
    question = openai_server.chat_requests()[-1]["body"]["messages"][-1]["content"]
    assert "What is the default port of the web console?" in question
    assert "<@UBOT>" not in question, "the mention token is stripped at the edge"


async def test_follow_up_in_answered_thread_needs_no_mention_and_carries_history(
        slack: SlackHarness, openai_server: FakeOpenAI) -> None:
    await slack.seed_guide()
    openai_server.reply = "Run make install, then systemctl start teambot [1]."
    await slack.event(payload("app_mention"))
    await slack.fake.wait_for(lambda: slack.fake.final_update("1700000001.000100"))
    await slack.adapter.idle()

    openai_server.requests.clear()
    openai_server.reply = "Run teambot-setup.exe [1]."
    await slack.event(payload("message_thread_reply"))
    answers = await slack.fake.wait_for(lambda: len(slack.fake.messages()) == 2 and slack.fake.messages())
    assert answers[1].params["thread_ts"] == "1700000000.000100"
    await slack.fake.wait_for(lambda: slack.fake.final_update("1700000002.000100"))
    contents = [m["content"] for r in openai_server.chat_requests() for m in r["body"]["messages"]]
    assert any("What is the default port of the web console?" in c for c in contents), "history reaches the model"
    assert any("Run make install, then systemctl start teambot [1]." in c for c in contents)


async def test_thread_reply_where_the_bot_never_answered_is_ignored(slack: SlackHarness) -> None:
    status, _ = await slack.event(payload("message_thread_reply"))
    assert status == 200
    await slack.adapter.idle()
    assert slack.fake.of("chat.postMessage") == []


async def test_bots_itself_edits_and_deletions_are_ignored(slack: SlackHarness) -> None:
    await slack.seed_guide()
    await slack.event(payload("app_mention"))
    await slack.fake.wait_for(lambda: slack.fake.final_update("1700000001.000100"))
    await slack.adapter.idle()
    for name in ("message_changed", "message_deleted", "bot_message", "own_message"):
        status, _ = await slack.event(payload(name))
        assert status == 200
    await asyncio.sleep(0.1)
    await slack.adapter.idle()
    assert len(slack.fake.messages()) == 1, "only the mention was answered"


async def test_direct_message_is_answered_in_its_own_thread(slack: SlackHarness, openai_server: FakeOpenAI) -> None:
    await slack.seed_guide("*")  # a DM answers from the workspace-wide documents
    openai_server.reply = "Use make install [1]."
    await slack.event(payload("message_im"))
    [answer] = await slack.fake.wait_for(lambda: slack.fake.messages())
    assert (answer.params["channel"], answer.params["thread_ts"]) == ("D1", "1700000100.000300")
    final = await slack.fake.wait_for(lambda: slack.fake.final_update("1700000001.000100"))
    assert final.params["blocks"][0] == {"type": "markdown", "text": "Use make install [1]."}
    # The app's DM is its agent thread: the steps were its loading status, set before the answer began.
    statuses = [c.params["status"] for c in slack.fake.of("assistant.threads.setStatus")]
    assert statuses[0] == "Looking through the documents…" and "Searching the documents…" in statuses
    assert slack.fake.calls.index(slack.fake.of("assistant.threads.setStatus")[-1]) < slack.fake.calls.index(answer)


async def test_retried_delivery_is_answered_exactly_once(slack: SlackHarness) -> None:
    await slack.seed_guide()
    body = payload("app_mention")
    first = await slack.event(body)
    retry = await slack.event(body, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert first[0] == retry[0] == 200
    # The same message also arrives as a `message` event with another id: still one answer.
    as_message = payload("app_mention")
    as_message["event_id"] = "Ev0001-message"
    as_message["event"].update(type="message", channel_type="channel")
    await slack.event(as_message)
    await slack.fake.wait_for(lambda: slack.fake.final_update("1700000001.000100"))
    await asyncio.sleep(0.1)
    await slack.adapter.idle()
    assert len(slack.fake.messages()) == 1


async def test_bad_or_stale_signature_gets_401_and_nothing_happens(slack: SlackHarness) -> None:
    wrong_secret = await slack.event(payload("app_mention"), secret="not-the-secret")
    stale = await slack.event(payload("app_mention"), timestamp=int(time.time()) - 600)
    assert wrong_secret[0] == stale[0] == 401
    await asyncio.sleep(0.1)
    await slack.adapter.idle()
    assert slack.fake.calls == [], "no Web API call, not even auth.test"


async def test_model_failure_ends_the_working_state_with_a_plain_message(
        slack: SlackHarness, openai_server: FakeOpenAI) -> None:
    await slack.seed_guide()
    openai_server.fail_status = 500
    await slack.event(payload("app_mention"))
    final = await slack.fake.wait_for(lambda: [c for c in slack.fake.of("chat.update")
                                               if c.params["ts"] == "1700000001.000100"
                                               and "Sorry" in c.params["text"]])
    text = final[-1].params["text"]
    assert "the language model failed (HTTP 500)" in text
    blocks = final[-1].params["blocks"]
    assert not [b for b in blocks if b["type"] == "actions"], "no feedback buttons on an error"


async def test_slack_429_is_honoured_with_retry_after(slack: SlackHarness) -> None:
    await slack.seed_guide()
    slack.fake.rate_limit["chat.startStream"] = 1
    await slack.event(payload("app_mention"))
    await slack.fake.wait_for(lambda: slack.fake.final_update("1700000001.000100"), timeout=15)
    attempts = [c for c in slack.fake.calls if c.method == "chat.startStream"]
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 1.0, "waited Retry-After before retrying"


async def _post_raw(slack: SlackHarness, body: Any, headers: dict[str, str]) -> tuple[int, str]:
    async with slack.session.post(f"{slack.url}/slack/events", data=body, headers=headers) as response:
        return response.status, await response.text()


def _signed_bytes(body: bytes, content_type: str = "application/json") -> dict[str, str]:
    """Signed over the raw bytes, as Slack does (slack_sdk's helper takes only UTF-8)."""
    timestamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "Content-Type": content_type, "X-Slack-Signature": f"v0={digest}"}


def _one_line_error(status_and_text: tuple[int, str], status: int) -> str:
    got, text = status_and_text
    assert got == status, text
    error = json.loads(text)["error"]
    assert isinstance(error, str) and error and "\n" not in error
    return error


async def test_oversized_body_is_refused_before_it_is_held(slack: SlackHarness) -> None:
    """An unsigned 12 MB chunked body (no Content-Length) is refused while reading, holding ~1 MB at most."""
    chunk = b"x" * (64 * 1024)

    async def chunked_body() -> AsyncIterator[bytes]:
        for _ in range(12 * 16):
            yield chunk

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        refused = await _post_raw(slack, chunked_body(), {"Content-Type": "application/json"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "bytes" in _one_line_error(refused, 413)
    assert peak < 4 * 1024 * 1024, f"the route held {peak:,} bytes for a body it must refuse"

    # A declared Content-Length over the limit is refused without reading the body.
    declared = await _post_raw(slack, b"{" + b" " * (2 * 1024 * 1024) + b"}", _signed_bytes(b"{}"))
    _one_line_error(declared, 413)
    await slack.adapter.idle()
    assert slack.fake.calls == []


async def test_malformed_requests_get_a_one_line_4xx_never_500(slack: SlackHarness) -> None:
    body = json.dumps(payload("app_mention")).encode()
    not_a_number = {**_signed_bytes(body), "X-Slack-Request-Timestamp": "soon"}
    _one_line_error(await _post_raw(slack, body, not_a_number), 401)
    non_ascii_signature = {**_signed_bytes(body), "X-Slack-Signature": "v0=서명"}
    _one_line_error(await _post_raw(slack, body, non_ascii_signature), 401)

    deep = b"[" * 100_000 + b"]" * 100_000
    deep_form = b"payload=" + b"%5B" * 100_000
    form = "application/x-www-form-urlencoded"
    for signed_but_malformed, content_type in [
        (b"{not json", "application/json"), (deep, "application/json"), (b"[1, 2]", "application/json"),
        (b"{\"type\": \"\xff\xfe\"}", "application/json"), (deep_form, form),
    ]:
        response = await _post_raw(slack, signed_but_malformed, _signed_bytes(signed_but_malformed, content_type))
        _one_line_error(response, 400)
    await slack.adapter.idle()
    assert slack.fake.calls == []


async def test_a_direct_message_whose_loading_status_slack_refuses_shows_the_steps_at_once(
        slack: SlackHarness, openai_server: FakeOpenAI) -> None:
    """Without the agent view (or on a plan without it) Slack refuses the DM's loading status: the
    answer's stream opens at once with its steps and Stop, as in a channel thread, not at the first word."""
    await slack.seed_guide("*")
    openai_server.reply = "Use make install [1]."
    slack.fake.errors["assistant.threads.setStatus"] = "access_denied"
    await slack.event(payload("message_im"))
    [start] = await slack.fake.wait_for(lambda: slack.fake.of("chat.startStream"))
    final = await slack.fake.wait_for(lambda: slack.fake.final_update(start.ts))
    assert final.params["blocks"][0] == {"type": "markdown", "text": "Use make install [1]."}
    steps = [chunk["title"] for call in slack.fake.of("chat.appendStream")
             for chunk in call.params.get("chunks") or [] if chunk["type"] == "task_update"]
    assert "Searching the documents" in steps
    assert len(slack.fake.of("assistant.threads.setStatus")) == 1, "a refused status is not asked for again"
    await slack.adapter.idle()
