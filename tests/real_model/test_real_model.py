"""teambot against a real OpenAI-compatible server: llama-cpp-python with SmolLM2-135M at 2,048 tokens.

Run with `make test-real-model` (not part of `make test`). The model is tiny and its answers are
poor, so these tests check behaviour, never wording: the command succeeds, an answer is there and
says which way it was made, every request fits the model's context and carries a token bound the
server honours, and a thread's saved history never holds an empty answer, also when the server
dies mid-answer or interrupts a request for another one.

Each test prints what went over the wire (token bounds, prompt sizes, streamed chunks, finish
reasons, errors) and llama.cpp's own token counts, so a failure says what the model path did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.prompts import NO_MODEL_NOTE, NO_MODEL_NOTE_KO
from bot.history import RedisHistory, Turn
from bot.redis_server import EmbeddedRedis
from tests.support.llama_server import ChatCall, LlamaServer, ModelRelay, llama_server
from tests.support.real_model_runs import (
    CONTEXT_TOKENS,
    MAX_ANSWER_TOKENS,
    MAX_CONDENSE_TOKENS,
    AskResult,
    ask,
    copy_of,
    saved_turns,
    teambot_env,
    thread_key,
)

pytestmark = pytest.mark.real_model

# The mode of an answer the model wrote, and of quotes given instead (no model, or the model failed).
MODEL_MODES = {"llm", "model"}
QUOTE_MODE = "extractive"
# Process start, stores, a prompt of up to 2,048 tokens and 64 generated ones at one thread take
# seconds; an unbounded answer or a hang takes minutes. Generous for a busy 2-core machine.
ANSWER_TIME_LIMIT_S = 180

ENGLISH_QUESTION = "Can I work from home (재택근무)? What are the rules?"
KOREAN_QUESTION = "재택근무는 일주일에 몇 번 할 수 있나요?"
KOREAN_FOLLOW_UP = "그럼 신청은 언제까지 해야 하나요?"
LEAVE_QUESTION = "연차휴가는 1년에 며칠 받을 수 있나요?"
TRIP_QUESTION = "국내출장 숙박비는 1박에 얼마까지 지급되나요?"


def report(title: str, result: AskResult, calls: list[ChatCall], server: LlamaServer | None = None,
           *, since: int = 0) -> str:
    """What happened, printed (shown by pytest on failure) and used in assertion messages.

    `since` is where the server's log stood when the test began (a module shares one server).
    """
    lines = [f"--- {title}: {result.describe()}"]
    lines += [f"    call {n}: {call.summary()}" for n, call in enumerate(calls, start=1)]
    if server is not None:
        lines += [f"    llama.cpp: {line}" for line in server.perf_lines(since)]
        lines += [f"    server error: {line}" for line in server.error_lines(since)]
    text = "\n".join(lines)
    print(text)
    return text


def assert_bounded(calls: list[ChatCall], *, limit: int, observed: str, server: LlamaServer, since: int) -> None:
    """Every request fit the context, carried a bound this server reads, and stayed within it."""
    assert calls, f"no request reached the model\n{observed}"
    # llama-cpp-python refuses an over-long prompt inside an already-started 200 stream: its log says so.
    assert not server.error_lines(since), f"the server failed a request\n{observed}"
    # llama.cpp's "runs" are single-token decodes: about the tokens generated, give or take one
    # (a prompt's last token is decoded singly when the rest was cached). Unbounded is hundreds more.
    assert all(runs <= limit + 2 for runs in server.generated_tokens(since)), (
        f"the model generated more than {limit} tokens for a request\n{observed}")
    for call in calls:
        assert call.token_bound is not None and call.token_bound <= limit, (
            f"no max_tokens <= {limit} that llama-cpp-python honours (it ignores max_completion_tokens)\n{observed}")
        assert call.content_chunks <= limit, f"the model streamed more than {limit} tokens\n{observed}"
        # No status: sent on the connection of a request the server failed, which it ends with a clean,
        # keep-alive end of stream and then closes unread; the OpenAI client sends it again.
        if call.status is not None:
            assert call.status == 200 and call.error is None and call.done, f"a request failed\n{observed}"


def assert_model_answer(result: AskResult, observed: str) -> None:
    assert result.code == 0, f"teambot ask failed\n{observed}"
    assert result.answer.strip(), f"empty answer\n{observed}"
    assert result.mode in MODEL_MODES, f"not answered by the model\n{observed}"
    assert result.elapsed_s < ANSWER_TIME_LIMIT_S, f"slower than a {MAX_ANSWER_TOKENS}-token answer can be\n{observed}"


def assert_no_empty_answers(turns: list[Turn], observed: str) -> None:
    empty = [n for n, turn in enumerate(turns, start=1) if not turn.answer.strip()]
    assert not empty, f"turns {empty} were saved with an empty answer\n{observed}"


@pytest.fixture(scope="module")
def relay(llama: LlamaServer) -> Iterator[ModelRelay]:
    """The module's server, watched: each test reads the calls made after it began."""
    with ModelRelay(llama.port) as relay:
        yield relay


def new_calls(relay: ModelRelay, before: int) -> list[ChatCall]:
    return relay.chat_calls()[before:]


async def test_english_question_over_a_long_korean_document(
    knowledge_dir: Path, redis_server: EmbeddedRedis, llama: LlamaServer, relay: ModelRelay,
    thread_history: RedisHistory,
) -> None:
    assert Path(__file__).with_name("work_rules_ko.md").stat().st_size >= 5 * 1024
    env = teambot_env(data_dir=knowledge_dir, redis_url=redis_server.url, model_url=relay.base_url)
    before, since = len(relay.chat_calls()), llama.log_size()

    result = await ask(ENGLISH_QUESTION, thread="english", env=env)

    observed = report("English question", result, calls := new_calls(relay, before), llama, since=since)
    assert_model_answer(result, observed)
    assert_bounded(calls, limit=MAX_ANSWER_TOKENS, observed=observed, server=llama, since=since)
    assert_no_empty_answers(await saved_turns(thread_history, "english"), observed)


async def test_korean_question_and_follow_up_fit_a_2048_token_context(
    knowledge_dir: Path, redis_server: EmbeddedRedis, llama: LlamaServer, relay: ModelRelay,
    thread_history: RedisHistory,
) -> None:
    # Hangul costs this model's tokenizer about two tokens a character: one 1,000-character
    # passage alone is about a full context, so the prompt must be fitted to the window.
    env = teambot_env(data_dir=knowledge_dir, redis_url=redis_server.url, model_url=relay.base_url)
    before, since = len(relay.chat_calls()), llama.log_size()
    first = await ask(KOREAN_QUESTION, thread="korean", env=env)
    first_calls = new_calls(relay, before)
    before = len(relay.chat_calls())

    follow_up = await ask(KOREAN_FOLLOW_UP, thread="korean", env=env)

    follow_up_calls = new_calls(relay, before)
    observed = "\n".join([report("Korean question", first, first_calls),
                          report("its follow-up (server log of both)", follow_up, follow_up_calls, llama,
                                 since=since)])
    for result, calls in ((first, first_calls), (follow_up, follow_up_calls)):
        assert_model_answer(result, observed)
        assert_bounded(calls, limit=MAX_ANSWER_TOKENS, observed=observed, server=llama, since=since)
    # The follow-up is first rewritten into a standalone query: a short request of its own.
    assert len(follow_up_calls) >= 2, f"the follow-up was not rewritten with the thread's history\n{observed}"
    assert min(c.token_bound or CONTEXT_TOKENS for c in follow_up_calls) <= MAX_CONDENSE_TOKENS, (
        f"no rewriting request bounded by TEAMBOT_MAX_CONDENSE_TOKENS={MAX_CONDENSE_TOKENS}\n{observed}")
    turns = await saved_turns(thread_history, "korean")
    assert [t.question for t in turns] == [KOREAN_QUESTION, KOREAN_FOLLOW_UP], observed
    assert_no_empty_answers(turns, observed)


async def test_over_long_history_still_fits_the_context(
    knowledge_dir: Path, redis_server: EmbeddedRedis, llama: LlamaServer, relay: ModelRelay,
    thread_history: RedisHistory,
) -> None:
    # Thirty earlier turns of long Korean answers: far more than 2,048 tokens of history.
    # Seeded directly (as teambot stores them) rather than asked, to keep the run short.
    earlier = [(LEAVE_QUESTION, "연차휴가는 1년간 80퍼센트 이상 출근한 직원에게 15일이 부여됩니다. " * 6),
               (TRIP_QUESTION, "국내출장 숙박비는 1박 10만 원을 한도로 실비 지급하고 일비는 1일 3만 원입니다. " * 6)]
    for n in range(30):
        question, answer = earlier[n % 2]
        await thread_history.append(thread_key("long"), Turn(question, answer, 1_700_000_000.0 + n))
    env = teambot_env(data_dir=knowledge_dir, redis_url=redis_server.url, model_url=relay.base_url)
    before, since = len(relay.chat_calls()), llama.log_size()

    result = await ask(KOREAN_QUESTION, thread="long", env=env)

    observed = report("over-long history", result, calls := new_calls(relay, before), llama, since=since)
    assert_model_answer(result, observed)
    assert_bounded(calls, limit=MAX_ANSWER_TOKENS, observed=observed, server=llama, since=since)
    turns = await saved_turns(thread_history, "long")
    assert turns[-1].question == KOREAN_QUESTION, observed
    assert_no_empty_answers(turns, observed)


async def test_server_killed_mid_answer_degrades_to_quotes(
    knowledge_dir: Path, redis_server: EmbeddedRedis, gguf: Path, tmp_path: Path, thread_history: RedisHistory,
) -> None:
    with llama_server(gguf=gguf, log_path=tmp_path / "server.log", interrupt_requests=False,
                      context_tokens=CONTEXT_TOKENS) as doomed:
        # Killed the moment the first words of the answer have passed: teambot is mid-stream.
        with ModelRelay(doomed.port, on_answer_started=doomed.kill) as relay:
            env = teambot_env(data_dir=knowledge_dir, redis_url=redis_server.url, model_url=relay.base_url)

            result = await ask(KOREAN_QUESTION, thread="killed", env=env)

            calls = relay.chat_calls()
        observed = report("server killed mid-answer", result, calls, doomed)
        assert doomed.process.poll() is not None, f"the server was never killed: no answer began\n{observed}"
    assert result.code == 0, f"teambot ask failed instead of degrading\n{observed}"
    assert result.mode == QUOTE_MODE, f"not degraded to quotes\n{observed}"
    assert result.answer.strip() and result.payload.get("citations"), f"no quotes with sources\n{observed}"
    # The note says the model failed, not that none is configured: one is.
    assert NO_MODEL_NOTE not in result.answer and NO_MODEL_NOTE_KO not in result.answer, (
        f"the note claims no model is configured\n{observed}")
    assert any(line.strip() and not line.lstrip().startswith(">") for line in result.answer.splitlines()), (
        f"quotes without a note saying why\n{observed}")
    turns = await saved_turns(thread_history, "killed")
    assert [t.answer for t in turns] == [result.answer], f"the saved turn is not the answer given\n{observed}"
    assert_no_empty_answers(turns, observed)


async def test_interrupted_request_still_gets_an_answer(
    knowledge_dir: Path, redis_server: EmbeddedRedis, gguf: Path, tmp_path: Path, thread_history: RedisHistory,
) -> None:
    # With --interrupt_requests True (llama-cpp-python's default) a stream is ended early, with a
    # clean [DONE] and no finish_reason, as soon as another request waits: a truncated answer that
    # looks like a complete one. The relay makes the two requests overlap for certain.
    with llama_server(gguf=gguf, log_path=tmp_path / "server.log", interrupt_requests=True,
                      context_tokens=CONTEXT_TOKENS) as server, \
            ModelRelay(server.port, stagger_first_two=True) as relay:
        # Separate data directories: two processes at once each open their own stores.
        envs = [teambot_env(data_dir=copy_of(knowledge_dir, tmp_path / name), redis_url=redis_server.url,
                            model_url=relay.base_url) for name in ("a", "b")]

        results = await asyncio.gather(ask(KOREAN_QUESTION, thread="concurrent-a", env=envs[0]),
                                       ask(TRIP_QUESTION, thread="concurrent-b", env=envs[1]))

        calls = relay.chat_calls()
        observed = "\n".join([report("concurrent a", results[0], []),
                              report("concurrent b (calls of both)", results[1], calls, server)])
    interrupted = [call for call in calls if call.done and call.finish_reason is None]
    assert interrupted, f"no request was interrupted: the scenario did not happen\n{observed}"
    for name, result in zip("ab", results, strict=True):
        assert result.code == 0, f"{name}: teambot ask failed\n{observed}"
        assert result.answer.strip(), f"{name}: empty answer\n{observed}"
        assert result.mode in MODEL_MODES | {QUOTE_MODE}, f"{name}: neither the model's answer nor quotes\n{observed}"
        assert_no_empty_answers(await saved_turns(thread_history, f"concurrent-{name}"), observed)
    # The cut-off stream ended like a complete one ([DONE]), only without a finish_reason: an
    # answer built from it alone must not pass for the model's whole answer.
    for name, question, result in zip("ab", (KOREAN_QUESTION, TRIP_QUESTION), results, strict=True):
        own = [call for call in calls if question in call.last_user_message]
        if own and own[-1] in interrupted:
            assert result.mode == QUOTE_MODE, f"{name}: a cut-off answer passed for a whole one\n{observed}"
