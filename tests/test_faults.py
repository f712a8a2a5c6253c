"""Faults injected for real: a stopped redis-server, a failing or stalling model endpoint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from adapters.fake.adapter import FakeAdapter
from bot.app import Teambot
from bot.dispatcher import HISTORY_UNAVAILABLE
from bot.redis_server import EmbeddedRedis
from bot.settings import Settings
from tests.support.openai_server import FakeOpenAI

GUIDE = b"# Guide\n\n## Linux\n\nThe web console listens on port 8080.\n\n## Windows\n\nRun teambot-setup.exe as admin."


async def test_redis_outage_answers_without_history_says_so_once_and_recovers(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    redis_server = EmbeddedRedis(tmp_path / "redis", persist=True)
    await redis_server.start()
    try:
        async with Teambot(make_settings(redis_url=redis_server.url)) as teambot:
            fake = FakeAdapter(teambot)
            await fake.upload("guide.md", GUIDE)
            await fake.say("Which port does the web console listen on?", thread="ops")

            await redis_server.stop()  # the process is really gone
            during = [await fake.say("Which port does the web console listen on?", thread="ops") for _ in range(2)]
            assert all(s.reply is not None and "8080" in s.reply.text for s in during), "still answering"
            assert HISTORY_UNAVAILABLE in during[0].reply.text
            assert HISTORY_UNAVAILABLE not in during[1].reply.text, "said once, not on every answer"

            await redis_server.start()  # same port, same data directory
            after = await fake.say("And on Windows?", thread="ops")
            assert after.reply is not None and HISTORY_UNAVAILABLE not in after.reply.text
            turns = await teambot.history.load(fake.message("", thread="ops").conversation_key)
            assert [t.question for t in turns] == ["Which port does the web console listen on?", "And on Windows?"]
    finally:
        await redis_server.stop()


async def test_model_errors_are_retried_with_backoff_then_succeed(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    settings = make_settings(openai_base_url=openai_server.base_url, model_max_retries=2)
    async with Teambot(settings) as teambot:
        fake = FakeAdapter(teambot)
        await fake.upload("guide.md", GUIDE)
        openai_server.fail_status, openai_server.fail_times = 503, 2
        openai_server.reply = "Port 8080 [1]."

        stream = await fake.say("Which port does the web console listen on?")

        assert stream.reply is not None and stream.reply.text == "Port 8080 [1]."
        assert len(openai_server.chat_requests()) == 3, "two failures retried, the third attempt answered"


async def test_model_rate_limit_and_stall_end_with_clear_messages(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    settings = make_settings(openai_base_url=openai_server.base_url, model_max_retries=1, model_timeout_s=0.5)
    async with Teambot(settings) as teambot:
        fake = FakeAdapter(teambot)
        await fake.upload("guide.md", GUIDE)

        # Degraded, not failed: the documents are quoted, with the reason the model gave none.
        openai_server.fail_status = 429
        limited = await fake.say("Which port does the web console listen on?", thread="a")
        assert limited.reply is not None and limited.reply.mode == "extractive"
        assert "8080" in limited.reply.text
        assert "the language model is rate-limiting us" in limited.reply.text
        assert len(openai_server.chat_requests()) == 2, "bounded: one retry, then give up"

        openai_server.fail_status, openai_server.stall = None, True
        stalled = await fake.say("Which port does the web console listen on?", thread="b")
        assert stalled.working_shown and stalled.reply is not None
        assert "8080" in stalled.reply.text
        assert "the language model did not answer in time" in stalled.reply.text
