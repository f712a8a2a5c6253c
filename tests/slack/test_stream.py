"""The reply stream against the fake Web API: throttled partial updates, one tidy final message."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.stream import SlackReplyStream
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
    await stream.finish(Reply(text="\n".join(["line " * 20] * 100), mode="llm"))
    sections = [b for b in fake_slack.of("chat.update")[-1].params["blocks"] if b["type"] == "section"]
    assert len(sections) >= 2 and all(len(s["text"]["text"]) <= 3000 for s in sections)
