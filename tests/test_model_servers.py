"""Real model servers' ways, reproduced by the loopback server: answers bounded, prompts that fit the
context window, every server's stream shape and failure handled with its own one-line message (issue 18)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from adapters.fake.adapter import FakeAdapter
from agent import nodes, prompts
from agent.budget import estimate_tokens
from agent.llm import build_model_http_client
from agent.state import AgentContext
from bot.app import Teambot, build_configured_chat_model
from bot.history import Turn
from bot.settings import Settings
from bot.usage import QuestionRecord
from tests.support.cli import cli_env, run_cli
from tests.support.openai_server import FakeOpenAI, smollm2_tokens

GUIDE = b"# Guide\n\n## Linux\n\nThe web console listens on port 8080.\n\n## Windows\n\nRun teambot-setup.exe as admin."
LUNCH = b"# Lunch\n\nThe cafeteria serves bibimbap on Fridays and closes at two."
QUESTION = "Which port does the web console listen on?"
# About 2.4 KB of Korean, as in the run that needed 5,062 tokens for its first question.
KOREAN_GUIDE = ("# 온콜 운영 안내\n\n" + "".join(
    f"온콜 담당자는 {n}주차에 교대하며 장애가 나면 십오 분 안에 응답하고 상황을 운영 채널에 공유합니다. "
    for n in range(1, 17)
)).encode()
KOREAN_QUESTION = "온콜 담당자는 장애가 나면 몇 분 안에 응답하나요?"


@asynccontextmanager
async def model_bot(make_settings: Callable[..., Settings], server: FakeOpenAI, **overrides: Any
                    ) -> AsyncIterator[tuple[Teambot, FakeAdapter, list[QuestionRecord]]]:
    """A running core answering through `server`, its usage records captured as they are written."""
    values: dict[str, Any] = {"openai_base_url": server.base_url, "openai_api_key": "sk-test",
                              "chat_model": "fake-model", "model_max_retries": 0}
    values.update(overrides)
    async with Teambot(make_settings(**values)) as teambot:
        records: list[QuestionRecord] = []
        record_question = teambot.usage.record_question

        async def capture(record: QuestionRecord) -> None:
            records.append(record)
            await record_question(record)

        teambot.usage.record_question = capture
        yield teambot, FakeAdapter(teambot), records


def answer_requests(server: FakeOpenAI) -> list[dict[str, Any]]:
    """The answer calls (not the condense calls), in order."""
    return [r["body"] for r in server.chat_requests() if r["body"]["messages"][0]["content"] != prompts.CONDENSE_SYSTEM]


def system_prompt(body: dict[str, Any]) -> str:
    return body["messages"][0]["content"]


# --- 1. answers are bounded -------------------------------------------------------------------------------


async def test_every_call_sends_max_tokens_and_an_answer_cut_by_length_says_so(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    async with model_bot(make_settings, openai_server, max_answer_tokens=50, max_condense_tokens=20) as (
        _, fake, _
    ):
        await fake.upload("guide.md", GUIDE)
        openai_server.reply = "Port 8080 [1]."
        await fake.say(QUESTION, thread="t")
        openai_server.scenarios = ["normal", "runaway"]  # the rewrite, then an answer that would not stop
        stream = await fake.say("And on Linux, which port?", thread="t")

        bodies = [r["body"] for r in openai_server.chat_requests()]
        assert [b.get("max_tokens") for b in bodies] == [50, 20, 50], "every call bounded, the rewrite tighter"
        assert stream.reply is not None and stream.reply.mode == "llm"
        assert len(stream.reply.text.split()) < 80, "stopped at the limit, not when the context filled up"
        assert stream.reply.text.endswith(prompts.CUT_SHORT_NOTE)


# --- 2. prompts fit the context window ----------------------------------------------------------------------


async def test_a_korean_document_is_trimmed_to_fit_the_window(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    openai_server.context_tokens = 1024  # llama-cpp-python with -c 1024: over-long streams come back empty
    async with model_bot(make_settings, openai_server, model_context_tokens=1024, max_answer_tokens=256) as (
        _, fake, _
    ):
        assert len(KOREAN_GUIDE) > 2000
        await fake.upload("oncall.md", KOREAN_GUIDE)
        openai_server.reply = "십오 분 안에 응답합니다 [1]."
        stream = await fake.say(KOREAN_QUESTION)

        assert stream.reply is not None and stream.reply.mode == "llm", stream.reply
        body = answer_requests(openai_server)[-1]
        assert smollm2_tokens(body) + body["max_tokens"] <= 1024
        assert "십오 분 안에 응답" in system_prompt(body), "the passage is shortened, not dropped"


async def test_a_runaway_answer_in_history_does_not_make_every_follow_up_overflow(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    openai_server.context_tokens = 2048
    async with model_bot(make_settings, openai_server, model_context_tokens=2048, max_answer_tokens=256) as (
        teambot, fake, _
    ):
        await fake.upload("guide.md", GUIDE)
        key = fake.message("", thread="t").conversation_key
        await teambot.history.append(key, Turn("What is teambot?", "teambot " * 3600, time.time()))
        await teambot.history.append(key, Turn("Where is the guide?", "In the docs [1].", time.time()))
        openai_server.reply = "Port 8080 [1]."

        stream = await fake.say(QUESTION, thread="t")

        assert stream.reply is not None and stream.reply.text == "Port 8080 [1].", stream.reply
        body = answer_requests(openai_server)[-1]
        contents = [m["content"] for m in body["messages"]]
        assert smollm2_tokens(body) + body["max_tokens"] <= 2048
        assert "In the docs [1]." in contents, "the recent turn stays"
        assert not any(c.count("teambot") > 1000 for c in contents), "the runaway answer is dropped or shortened"


async def test_a_runaway_last_answer_is_shortened_instead_of_emptying_the_history(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    # Seen with llama-cpp-python: a long last answer pushed every turn out, oldest first, and then
    # itself, so the follow-up went without any history although most of the window was free.
    openai_server.context_tokens = 2048
    async with model_bot(make_settings, openai_server, model_context_tokens=2048, max_answer_tokens=256) as (
        teambot, fake, _
    ):
        await fake.upload("guide.md", GUIDE)
        key = fake.message("", thread="t").conversation_key
        await teambot.history.append(key, Turn("Where is the guide?", "In the docs [1].", time.time()))
        await teambot.history.append(key, Turn("What is teambot?", "teambot " * 3600, time.time()))
        openai_server.reply = "Port 8080 [1]."

        stream = await fake.say(QUESTION, thread="t")

        assert stream.reply is not None and stream.reply.text == "Port 8080 [1].", stream.reply
        body = answer_requests(openai_server)[-1]
        contents = [m["content"] for m in body["messages"]]
        assert smollm2_tokens(body) + body["max_tokens"] <= 2048
        assert "In the docs [1]." in contents and "What is teambot?" in contents, "both turns stay"
        runaway = next(c for c in contents if c.startswith("teambot teambot"))
        assert runaway.endswith("…") and runaway.count("teambot") < 1000, "the long answer is shortened"


async def test_passages_below_the_relevance_bar_are_not_sent(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    async with model_bot(make_settings, openai_server) as (_, fake, _):
        await fake.upload("guide.md", GUIDE)
        await fake.upload("lunch.md", LUNCH)
        openai_server.reply = "Port 8080 [1]."

        stream = await fake.say(QUESTION)

        assert stream.reply is not None and stream.reply.mode == "llm"
        prompt = system_prompt(answer_requests(openai_server)[-1])
        assert "8080" in prompt and "cafeteria" not in prompt
        assert [c.source for c in stream.reply.consulted] == ["guide.md"]


# --- 3. overflow, in each server's words ----------------------------------------------------------------------

OVERFLOWS = ["overflow_openai", "overflow_llama_cpp", "overflow_vllm", "overflow_llama_cpp_python", "empty_200"]


@pytest.mark.parametrize("scenario", OVERFLOWS)
async def test_an_overflow_is_retried_once_with_a_smaller_prompt(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI, scenario: str
) -> None:
    async with model_bot(make_settings, openai_server) as (_, fake, _):
        await fake.upload("guide.md", GUIDE)
        openai_server.reply = "Port 8080 [1]."
        openai_server.scenarios = [scenario]

        stream = await fake.say(QUESTION)

        assert stream.reply is not None and stream.reply.text == "Port 8080 [1].", stream.reply
        first, retry = (r["body"] for r in openai_server.chat_requests())
        assert smollm2_tokens(retry) < smollm2_tokens(first), "the retry sends a smaller prompt"


@pytest.mark.parametrize("scenario", OVERFLOWS)
async def test_an_overflow_that_persists_is_explained_in_one_line(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI, scenario: str
) -> None:
    async with model_bot(make_settings, openai_server) as (teambot, fake, records):
        await fake.upload("guide.md", GUIDE)
        openai_server.scenario = scenario

        stream = await fake.say(QUESTION)

        assert stream.reply is not None and stream.reply.mode == "error"
        assert stream.reply.error is not None
        assert "too long for the language model's context window" in stream.reply.error
        assert "\n" not in stream.reply.text
        assert len(openai_server.chat_requests()) == 2, "one retry, then the explanation"
        assert records[-1].error_kind == "model_context"
        assert await teambot.history.load(fake.message("").conversation_key) == []


# --- 4. every server's stream -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["role_first", "ping", "no_usage"])
async def test_llama_cpp_python_stream_shapes_give_the_whole_answer(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI, scenario: str
) -> None:
    async with model_bot(make_settings, openai_server) as (_, fake, _):
        await fake.upload("guide.md", GUIDE)
        openai_server.reply, openai_server.scenario = "The web console listens on port 8080 [1].", scenario

        stream = await fake.say(QUESTION)

        assert stream.reply is not None and stream.reply.text == "The web console listens on port 8080 [1]."
        assert "".join(stream.deltas) == stream.reply.text


async def test_done_then_a_dropped_connection_is_not_an_empty_answer(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    async with model_bot(make_settings, openai_server) as (teambot, fake, _):
        await fake.upload("guide.md", GUIDE)
        openai_server.scenario = "done_then_drop"  # a role chunk, [DONE], then the connection closes

        stream = await fake.say(QUESTION)

        reply = stream.reply
        assert reply is not None and reply.mode == "extractive", reply
        assert "> The web console listens on port 8080. [1]" in reply.text
        assert "interrupted before it said anything" in reply.text
        turns = await teambot.history.load(fake.message("").conversation_key)
        assert [t.answer.strip() != "" for t in turns] == [True], "no empty answer is remembered"


async def test_a_connection_dropped_mid_answer_keeps_what_was_said_then_quotes(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    async with model_bot(make_settings, openai_server) as (_, fake, _):
        await fake.upload("guide.md", GUIDE)
        openai_server.reply = "The web console listens on port 8080 and serves the admin pages too [1]."
        openai_server.scenario = "drop"

        stream = await fake.say(QUESTION)

        reply = stream.reply
        assert reply is not None and reply.mode == "extractive", reply
        assert reply.text.startswith("The web console listens on port")
        assert "broke off mid-answer" in reply.text
        assert "> The web console listens on port 8080. [1]" in reply.text
        assert reply.citations and reply.citations[0].source == "guide.md"


async def test_a_500_with_a_traceback_is_one_line(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    async with model_bot(make_settings, openai_server) as (_, fake, _):
        await fake.upload("guide.md", GUIDE)
        openai_server.scenario = "server_error_traceback"

        stream = await fake.say(QUESTION)

        assert stream.reply is not None
        assert stream.reply.text == "Sorry, I couldn't answer: the language model failed (HTTP 500). Please try again."


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_a_refused_connection_is_not_reported_as_a_timeout_and_the_documents_are_quoted(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    async with model_bot(make_settings, openai_server, openai_base_url=f"http://127.0.0.1:{_closed_port()}/v1") as (
        _, fake, _
    ):
        await fake.upload("guide.md", GUIDE)

        stream = await fake.say(QUESTION)

        reply = stream.reply
        assert reply is not None and reply.mode == "extractive", reply
        assert "refused the connection" in reply.text and "in time" not in reply.text
        assert "> The web console listens on port 8080. [1]" in reply.text


async def test_a_korean_question_s_fallback_note_is_all_korean(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    # Seen against llama-cpp-python: "…멈췄습니다(the connection to the language model broke off mid-answer)".
    async with model_bot(make_settings, openai_server, openai_base_url=f"http://127.0.0.1:{_closed_port()}/v1") as (
        _, fake, _
    ):
        await fake.upload("oncall.md", KOREAN_GUIDE)

        stream = await fake.say(KOREAN_QUESTION)

        reply = stream.reply
        assert reply is not None and reply.mode == "extractive", reply
        note = next(line for line in reply.text.splitlines() if "언어 모델" in line)
        assert "서버에 연결할 수 없음" in note
        assert not any(word in note for word in ("server", "connection", "refused")), note


@pytest.mark.parametrize(("status", "reason"), [(429, "rate-limiting us"), (503, "overloaded")])
async def test_an_overloaded_model_degrades_to_quotes(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI, status: int, reason: str
) -> None:
    async with model_bot(make_settings, openai_server) as (_, fake, _):
        await fake.upload("guide.md", GUIDE)
        openai_server.fail_status = status

        stream = await fake.say(QUESTION)

        reply = stream.reply
        assert reply is not None and reply.mode == "extractive" and reply.answered
        assert reason in reply.text and "8080" in reply.text


# --- usage -------------------------------------------------------------------------------------------------------


async def test_usage_is_estimated_and_flagged_when_the_server_reports_none(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    async with model_bot(make_settings, openai_server) as (teambot, fake, records):
        await fake.upload("guide.md", GUIDE)
        openai_server.reply, openai_server.scenario = "Port 8080 [1].", "no_usage"

        await fake.say(QUESTION)

        record = records[-1]
        assert record.tokens_estimated
        today = teambot.usage._bucket(None)
        assert (await teambot.usage.day_totals(today))["tokens_estimated"] == 1
        assert record.input_tokens >= smollm2_tokens(answer_requests(openai_server)[-1])
        assert record.output_tokens >= 3


async def test_the_condense_call_is_counted_too(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    async with model_bot(make_settings, openai_server) as (_, fake, records):
        await fake.upload("guide.md", GUIDE)
        openai_server.reply = "web console port"
        await fake.say(QUESTION, thread="t")
        await fake.say("And which port on Linux?", thread="t")

        assert len(openai_server.chat_requests()) == 3
        # The loopback server reports 100 prompt tokens per call: the rewrite and the answer.
        assert (records[-1].input_tokens, records[-1].tokens_estimated) == (200, False)


# --- citations ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("reply", "cited"), [
    ("The console listens on port 8080.", []),
    ("Port 8080 [1].", ["guide.md"]),
    ("Steps:\n[1] Open the console.\n[2] Log in.\n[3] Check port 8080.", []),
    (" ".join(f"[{n}] step {n}." for n in range(1, 53)), []),
    ("Port 8080 [1][7].", ["guide.md"]),
])
async def test_only_real_citations_are_sources_and_counted(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI, reply: str, cited: list[str]
) -> None:
    async with model_bot(make_settings, openai_server) as (_, fake, records):
        await fake.upload("guide.md", GUIDE)
        openai_server.reply = reply

        stream = await fake.say(QUESTION)

        assert stream.reply is not None and stream.reply.mode == "llm"
        assert [c.source for c in stream.reply.citations] == cited
        assert [c.source for c in stream.reply.consulted] == ["guide.md"]
        assert list(records[-1].cited_sources) == cited


def test_numbered_list_markers_are_not_citations() -> None:
    assert nodes._cited_numbers("A [2], B [1] and again [2].", 3) == [2, 1]
    assert nodes._cited_numbers("[1] first\n[2] second\n[3] third", 5) == []
    assert nodes._cited_numbers("- [1] first\n- [2] second, as [3] says", 5) == [3]
    assert nodes._cited_numbers("[1] [2] [3] [4] [5] [6]", 5) == []
    assert nodes._cited_numbers("See [9].", 5) == []


# --- the condense step ---------------------------------------------------------------------------------------------


async def test_an_answer_returned_as_the_condensed_query_is_not_searched_for(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    settings = make_settings(openai_base_url=openai_server.base_url, openai_api_key="sk-test", model_max_retries=0)
    client = build_model_http_client()
    try:
        context = AgentContext(retriever=None, chat_model=build_configured_chat_model(settings, http_client=client),
                               max_condense_tokens=40)
        history = [Turn("Who is on the on-call team this week?", "Alice and Bob [1].", time.time())]
        state = {"question": "How big is it?", "history": history}
        runtime = SimpleNamespace(context=context)

        openai_server.reply = "The on-call team is a team of 12 engineers who rotate every week."
        rejected = await nodes.condense_question(state, runtime)
        openai_server.reply = "on-call team size"
        accepted = await nodes.condense_question(state, runtime)
        openai_server.reply = '"on-call team size."'
        quoted = await nodes.condense_question(state, runtime)
    finally:
        await client.aclose()

    assert rejected["search_query"].startswith("How big is it?") and "on-call" in rejected["search_query"]
    assert "12" not in rejected["search_query"]
    assert accepted["search_query"] == "on-call team size"
    assert quoted["search_query"] == "on-call team size."
    assert [r["body"]["max_tokens"] for r in openai_server.chat_requests()] == [40, 40, 40]


# --- the estimator -------------------------------------------------------------------------------------------------


def test_the_token_estimate_is_conservative_for_korean_and_english() -> None:
    korean = KOREAN_GUIDE.decode()
    english = GUIDE.decode() * 20
    # SmolLM2's tokenizer (measured through llama-cpp-python): up to 3 tokens per Hangul syllable, its
    # UTF-8 bytes (2 per syllable was the first guess, and the real server refused such prompts), and
    # 0.2-0.27 per English character.
    hangul = sum(1 for ch in korean if "\uac00" <= ch <= "\ud7a3")
    assert estimate_tokens(korean) >= 3 * hangul
    assert 0.27 * len(english) <= estimate_tokens(english) <= 0.4 * len(english)


def test_pathological_input_is_estimated_quickly() -> None:
    # A hang guard, not a benchmark: linear work on these sizes takes milliseconds even on a loaded
    # machine, while anything quadratic in them takes minutes.
    started = time.perf_counter()
    estimate_tokens("가" * 200_000 + "a" * 200_000)
    nodes._cited_numbers("[1]" * 50_000, 5)
    assert time.perf_counter() - started < 5


# --- `teambot chat` ---------------------------------------------------------------------------------------------------


async def test_chat_keeps_logs_out_of_the_conversation(tmp_path: Path, openai_server: FakeOpenAI,
                                                       redis_url: str) -> None:
    (tmp_path / "guide.md").write_bytes(GUIDE)
    env = cli_env(tmp_path, OPENAI_BASE_URL=openai_server.base_url, OPENAI_API_KEY="sk-test", REDIS_URL=redis_url,
                  TEAMBOT_CHAT_MODEL="fake-model", TEAMBOT_MODEL_MAX_RETRIES="0", TEAMBOT_LOG_LEVEL="INFO")
    assert (await run_cli("ingest", "guide.md", env=env, cwd=tmp_path))[0] == 0
    openai_server.scenario = "server_error_traceback"

    process = await asyncio.create_subprocess_exec(
        *_python_cli("chat"), cwd=tmp_path, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,  # a terminal shows both, interleaved
    )
    output, _ = await asyncio.wait_for(process.communicate(f"{QUESTION}\n/quit\n".encode()), timeout=120)
    terminal = output.decode()

    assert "Sorry, I couldn't answer: the language model failed (HTTP 500). Please try again." in terminal
    assert "Traceback" not in terminal and '"level"' not in terminal and "answer failed" not in terminal
    logs = (tmp_path / "data" / "logs" / "console.log").read_text()
    assert "answer failed" in logs and all(json.loads(line) for line in logs.splitlines())


def _python_cli(*args: str) -> list[str]:
    import sys

    return [sys.executable, "-m", "bot.cli", *args]


async def test_a_question_too_long_for_the_window_is_refused_without_calling_the_model(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI
) -> None:
    async with model_bot(make_settings, openai_server, model_context_tokens=1024, max_answer_tokens=256) as (
        _, fake, _
    ):
        await fake.upload("guide.md", GUIDE)

        stream = await fake.say(QUESTION + " Which port does the web console listen on?" * 200)

        assert stream.reply is not None and stream.reply.mode == "error"
        assert "too long for the language model's context window" in stream.reply.text
        assert openai_server.chat_requests() == []


def test_an_answer_limit_that_leaves_no_room_for_the_prompt_is_refused_at_start() -> None:
    from bot.settings import SettingsError, load_settings

    with pytest.raises(SettingsError,
                       match=r"^TEAMBOT_MAX_ANSWER_TOKENS: must be at most 3/4 of TEAMBOT_MODEL_CONTEXT"):
        load_settings(_env_file=None, max_answer_tokens=4000, model_context_tokens=4096)
    assert load_settings(_env_file=None, max_answer_tokens=4000, model_context_tokens=128000).max_answer_tokens == 4000
