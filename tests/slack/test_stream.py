"""The reply stream against the fake Web API: throttled partial updates (edits or stream appends), one tidy
final message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.stream import NativeStreaming, SlackReplyStream, StreamingAvailability
from bot.core.values import Citation, Reply
from tests.support.fake_slack import BOT_TOKEN, FakeSlack


@pytest.fixture
async def client(fake_slack: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    yield AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)


async def test_partial_updates_are_throttled_to_one_per_interval(fake_slack: FakeSlack,
                                                                 client: AsyncWebClient) -> None:
    now = [0.0]
    stream = SlackReplyStream(client=client, channel="C1", thread_ts="1.0", min_interval_s=1.0,
                              clock=lambda: now[0])
    await stream.working()
    text = ""
    for i in range(30):  # 30 tokens over 3 seconds
        now[0] += 0.1
        text += f"w{i} "
        await stream.push(text_so_far=text, delta=f"w{i} ")
    partial = fake_slack.of("chat.update")
    assert 2 <= len(partial) <= 3
    assert all(call.params["text"].endswith("▍") for call in partial)

    await stream.finish(Reply(text=text.strip(), citations=(
        Citation(1, "guide.pdf", "p. 3", "snippet", "d1"),), mode="llm"))
    final = fake_slack.of("chat.update")[-1]
    assert final.params["ts"] == fake_slack.of("chat.postMessage")[0].ts
    assert final.params["blocks"][1]["elements"][0]["text"] == "*[1]* guide.pdf · p. 3"
    assert "Sources:\n[1] guide.pdf (p. 3)" in final.params["text"]


async def test_final_message_is_posted_fresh_if_the_placeholder_is_gone(fake_slack: FakeSlack,
                                                                        client: AsyncWebClient) -> None:
    stream = SlackReplyStream(client=client, channel="C1", thread_ts="1.0")
    await stream.working()
    fake_slack.errors["chat.update"] = "message_not_found"
    await stream.finish(Reply(text="Done.", mode="extractive"))
    posts = fake_slack.of("chat.postMessage")
    assert len(posts) == 2 and posts[1].params["text"] == "Done."
    assert stream.finished


async def test_long_answers_are_split_into_sections_under_slacks_limit(fake_slack: FakeSlack,
                                                                       client: AsyncWebClient) -> None:
    stream = SlackReplyStream(client=client, channel="C1", thread_ts=None)
    await stream.working()
    # Over the `markdown` block's 12,000 characters: mrkdwn sections instead.
    await stream.finish(Reply(text="\n".join(["line " * 20] * 150), mode="llm"))
    sections = [b for b in fake_slack.of("chat.update")[-1].params["blocks"] if b["type"] == "section"]
    assert len(sections) >= 2 and all(len(s["text"]["text"]) <= 3000 for s in sections)


async def test_native_stream_appends_are_throttled_and_the_rest_comes_with_the_stop(
        fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    now = [0.0]
    native = NativeStreaming(workspace="T1", user="U1", in_dm=False, availability=StreamingAvailability())
    stream = SlackReplyStream(client=client, channel="C1", thread_ts="1.0", native=native, min_interval_s=1.0,
                              clock=lambda: now[0])
    await stream.working()
    await stream.status("Searching the documents")
    text = ""
    for i in range(30):  # 30 tokens over 3 seconds
        now[0] += 0.1
        text += f"w{i} "
        await stream.push(text_so_far=text, delta=f"w{i} ")
    texts = [c.params["chunks"] for c in fake_slack.of("chat.appendStream")]
    written = [chunk for chunks in texts for chunk in chunks if chunk["type"] == "markdown_text"]
    assert 2 <= len(written) <= 3

    await stream.finish(Reply(text=text.strip(), mode="llm"))
    [started] = fake_slack.of("chat.startStream")
    assert fake_slack.streams[started.ts].text == text.strip(), "what was held back came with the stop"
    assert fake_slack.final_update(started.ts) is not None


async def test_a_long_answer_is_converted_off_the_event_loop(fake_slack: FakeSlack, client: AsyncWebClient,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The mrkdwn converter is pure Python and a long table takes it a noticeable part of a second: the
    final message's blocks are built in a worker thread, so other conversations keep being answered."""
    import threading

    from adapters.slack import stream as stream_module

    built_in: list[threading.Thread] = []
    real = stream_module.reply_blocks

    def spy(reply: Reply, **kwargs: Any) -> list[dict[str, Any]]:
        built_in.append(threading.current_thread())
        return real(reply, **kwargs)

    monkeypatch.setattr(stream_module, "reply_blocks", spy)
    stream = SlackReplyStream(client=client, channel="C1", thread_ts=None)
    await stream.working()
    await stream.finish(Reply(text="\n".join(["| a | b |", "|---|---|", *["| 1 | 2 |"] * 2000]), mode="llm"))
    assert built_in and all(thread is not threading.main_thread() for thread in built_in)
    assert fake_slack.of("chat.update")[-1].params["blocks"], "the converted answer was shown"
