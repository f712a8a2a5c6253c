"""Scenarios through the fake adapter: the whole core, real Redis and Chroma, no model or the loopback one."""

from __future__ import annotations

from adapters.fake.adapter import FakeAdapter
from bot.app import Teambot
from tests.support.openai_server import FakeOpenAI

GUIDE = b"""# Deploy guide

## Linux

To deploy on Linux, run make install and start the service with systemctl start teambot.
The default port of the web console is 8080.

## Windows

On Windows, run the installer teambot-setup.exe and choose the service option.
"""


async def test_extractive_answer_quotes_and_cites(teambot: Teambot) -> None:
    fake = FakeAdapter(teambot)
    [outcome] = await fake.upload("guide.md", GUIDE)
    assert outcome.result is not None and outcome.result.status == "added"

    stream = await fake.say("What is the default port of the web console?")

    assert stream.working_shown
    assert stream.reply is not None and stream.reply.mode == "extractive"
    assert "8080" in stream.reply.text
    assert "No language model is configured" in stream.reply.text
    assert [c.source for c in stream.reply.citations] == ["guide.md"]
    assert stream.reply.citations[0].location == "§ Deploy guide > Linux"


async def test_llm_answer_streams_tokens_with_history(teambot_llm: Teambot, openai_server: FakeOpenAI) -> None:
    fake = FakeAdapter(teambot_llm)
    await fake.upload("guide.md", GUIDE)
    openai_server.reply = "Run make install and start it with systemctl [1]."

    first = await fake.say("How do I deploy on Linux?")
    assert first.reply is not None and first.reply.mode == "llm"
    assert len(first.deltas) > 3, "the answer should arrive token by token"
    assert "".join(first.deltas).strip() == first.reply.text
    assert first.reply.citations[0].source == "guide.md"

    openai_server.requests.clear()
    await fake.say("And on Windows?")
    answer_request = openai_server.chat_requests()[-1]["body"]
    contents = [m["content"] for m in answer_request["messages"]]
    assert "How do I deploy on Linux?" in contents, "the first turn must reach the model as history"
    assert "Run make install and start it with systemctl [1]." in contents
