"""The dispatcher: history in, agent run, reply streamed out, turn saved, usage recorded.

Each conversation is served in order (a per-thread lock), while different
conversations run concurrently: everything here awaits, nothing blocks.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from agent.llm import describe_model_error
from bot.core.errors import StoreUnavailable
from bot.core.ports import (
    Answerer,
    AnswerLog,
    HistoryStore,
    ReplyStream,
    ShowsProgress,
    Stoppable,
    UsageRecorder,
)
from bot.core.values import IncomingMessage, QuestionRecord, Reply, Scope, Turn, new_answer_id
from bot.core.visibility import visible_scopes
from bot.observability import Metrics, new_correlation_id

if TYPE_CHECKING:
    from agent.state import AgentContext

Summarizer = Callable[..., Coroutine[Any, Any, tuple[Reply, dict[str, int]]]]
"""`agent.summary.summarize_thread`: (thread messages, model, budget, on_delta) -> (summary, token usage)."""
NO_SUMMARIES = "Thread summaries are not available here."
SUMMARY_QUESTION = "Summarize this thread"
"""The question a summary asked through a shortcut (no text of its own) is kept with, for the feedback reports."""

log = logging.getLogger(__name__)

SHUTTING_DOWN = "Sorry, I'm restarting and couldn't finish this answer. Please ask again in a minute."
SHUTTING_DOWN_ERROR = "shutting down"
"""`Reply.error` of an answer refused or cut short by shutdown (the HTTP API answers it with 503)."""
HISTORY_UNAVAILABLE = (
    "_I can't reach my memory of this thread right now, so I answered without its earlier messages._"
)
STOPPED_NOTE = "_Stopped._"
STOPPED_BEFORE_WRITING = "_Stopped before I wrote anything._"
STOPPED_ERROR = "stopped"
"""`Reply.error` (and the usage error kind) of an answer its reader stopped."""

REWRITING = "Rewriting the question with the thread's context"
SEARCHING = "Searching the documents"
SEARCHING_AGAIN = "Searching again, with the thread's earlier question"


def _documents(passages: list[Any]) -> str:
    count = len({getattr(getattr(p, "chunk", None), "document_id", id(p)) for p in passages})
    return f"{count} document{'s' if count != 1 else ''}"


def progress_after(node: str, update: Any) -> str | None:
    """What the agent does next once graph step `node` ended with `update` (a status line), or None."""
    passages = (update.get("passages") if isinstance(update, dict) else None) or []
    if node == "condense_question":
        return SEARCHING
    if node == "broaden_with_history":
        return SEARCHING_AGAIN
    if node == "retrieve" and passages:
        return f"Reading {_documents(passages)}"
    if node == "judge_answerability" and passages:
        return f"Writing the answer from {_documents(passages)}"
    return None


async def run_unless_stopped(work: Coroutine[Any, Any, None], stream: ReplyStream) -> bool:
    """Run `work` to its end, or until the stream's reader stops it: True if they did (then it is cancelled).

    Failures of `work` propagate; so does cancellation of the caller (shutdown), which cancels `work` too.
    """
    if not isinstance(stream, Stoppable):
        await work
        return False
    running = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(stream.stop_requested())
    try:
        await asyncio.wait({running, stop}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            running.result()
            return False
        return True
    finally:
        stop.cancel()
        if not running.done():
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


def stopped_reply(written: str) -> Reply:
    """The reply to an answer its reader stopped: what was written so far, marked as cut short."""
    written = written.strip()
    return Reply(text=f"{written}\n\n{STOPPED_NOTE}" if written else STOPPED_BEFORE_WRITING,
                 answered=False, mode="error", error=STOPPED_ERROR)


def describe_failure(error: BaseException) -> tuple[str, str]:
    """(kind, one-line message for the user) for an exception raised while answering."""
    if isinstance(error, StoreUnavailable):
        return "store", "the document store is unavailable right now. Please try again in a moment."
    described = describe_model_error(error)
    if described is not None:
        return described
    if isinstance(error, asyncio.TimeoutError):
        return "model_timeout", "the language model did not answer in time. Please try again."
    return "internal", f"something went wrong on our side ({type(error).__name__})."


class Dispatcher:
    """Answers normalized messages through the agent graph."""

    def __init__(self, *, graph: Answerer, context: AgentContext, history: HistoryStore,
                 usage: UsageRecorder, scopes_for: Callable[[IncomingMessage], list[Scope]] = visible_scopes,
                 metrics: Metrics | None = None, log_message_text: bool = False,
                 answers: AnswerLog | None = None, summarizer: Summarizer | None = None) -> None:
        self._summarizer = summarizer
        self._metrics = metrics
        self._answers = answers
        self._log_message_text = log_message_text
        self._graph = graph
        self._context = context
        self._history = history
        self._usage = usage
        self._scopes_for = scopes_for
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._outage_announced = False
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._accepting = True

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def handle(self, message: IncomingMessage, stream: ReplyStream) -> Reply:
        """Answer `message`, streaming through `stream`; never raises for answer failures."""
        new_correlation_id(message.event_id)
        log.info("question received", extra={
            "platform": message.platform, "channel": message.channel, "length": len(message.text),
            **({"text": message.text} if self._log_message_text else {}),
        })
        if not self._accepting:
            reply = Reply(text=SHUTTING_DOWN, answered=False, mode="error", error=SHUTTING_DOWN_ERROR)
            await self._finish(stream, reply)
            return reply
        # Each answer is its own task, so shutdown can wait for (or end) answers, not the adapters' loops.
        answer = asyncio.ensure_future(self._answer_in_order(message, stream))
        self._in_flight.add(answer)
        answer.add_done_callback(self._in_flight.discard)
        reply = await answer
        log.info("reply sent", extra={"mode": reply.mode, "answered": reply.answered,
                                      "citations": len(reply.citations), "consulted": len(reply.consulted)})
        return reply

    async def _answer_in_order(self, message: IncomingMessage, stream: ReplyStream) -> Reply:
        async with self._lock(message.conversation_key):
            return await self._answer(message, stream)

    async def summarize(self, message: IncomingMessage, stream: ReplyStream) -> Reply:
        """Summarize the thread `message` carries (`thread_messages`) through `stream`, from the thread alone
        (`agent.summary`); in the thread's turn like answers, stoppable, counted as a question; never raises
        for model failures. A finished summary is kept for feedback like an answer (its 👍/👎 name it); a
        shortcut's message has no text, so the feedback reports name it `SUMMARY_QUESTION`."""
        new_correlation_id(message.event_id)
        if not self._accepting or self._summarizer is None:
            reply = (Reply(text=SHUTTING_DOWN, answered=False, mode="error", error=SHUTTING_DOWN_ERROR)
                     if self._accepting is False else Reply(text=NO_SUMMARIES, answered=False, mode="none"))
            await self._finish(stream, reply)
            return reply

        async def in_order() -> Reply:
            async with self._lock(message.conversation_key):
                return await self._summarize(message, stream)

        summary = asyncio.ensure_future(in_order())
        self._in_flight.add(summary)
        summary.add_done_callback(self._in_flight.discard)
        return await summary

    async def _summarize(self, message: IncomingMessage, stream: ReplyStream) -> Reply:
        started = time.perf_counter()
        summarize = self._summarizer
        assert summarize is not None  # checked by `summarize`
        await stream.working()
        count = len(message.thread_messages)
        await self._show_progress(stream, f"Reading {count} message{'s' if count != 1 else ''} of the thread")
        written: list[str] = []
        pushes: asyncio.Queue[str] = asyncio.Queue()
        outcome: list[tuple[Reply, dict[str, int]]] = []

        async def run() -> None:
            async def show() -> None:
                while True:
                    delta = await pushes.get()
                    written.append(delta)
                    await stream.push(text_so_far="".join(written), delta=delta)

            shower = asyncio.ensure_future(show())
            try:
                outcome.append(await summarize(
                    message.thread_messages, chat_model=getattr(self._context, "chat_model", None),
                    context_tokens=self._context.context_tokens, answer_tokens=self._context.max_answer_tokens,
                    on_delta=pushes.put_nowait))
            finally:  # pieces not shown yet are in the summary `finish` shows
                shower.cancel()
                await asyncio.gather(shower, return_exceptions=True)

        stopped, failure = await self._run(run(), stream, doing="summary")
        if failure is not None:
            kind, reason = failure
            reply = Reply(text=f"Sorry, I couldn't summarize this thread: {reason}", answered=False, mode="error",
                          error=reason)
            await self._finish(stream, reply)
            await self._record(message, reply, started, None, {}, error_kind=kind)
            return reply
        if stopped:
            reply = stopped_reply("".join(written))
            await self._finish(stream, reply)
            await self._record(message, reply, started, None, {}, error_kind=STOPPED_ERROR)
            return reply
        reply, usage = outcome[0]
        asked = message if message.text.strip() else replace(message, text=SUMMARY_QUESTION)
        reply = await self._keep_for_feedback(asked, reply, redis_ok=True)
        await self._finish(stream, reply)
        await self._record(message, reply, started, time.perf_counter() - started, usage)
        return reply

    async def _run(self, work: Coroutine[Any, Any, None], stream: ReplyStream, *,
                   doing: str) -> tuple[bool, tuple[str, str] | None]:
        """Run `work` (the `doing` of an answer) to its end or its reader's stop: (stopped, the kind and the
        reason for the user of a failure, or None). Shutdown ends the stream with a notice and propagates."""
        try:
            return await run_unless_stopped(work, stream), None
        except asyncio.CancelledError:
            # Shutting down mid-answer: end the "working" state with a reason instead of silence.
            reply = Reply(text=SHUTTING_DOWN, answered=False, mode="error", error=SHUTTING_DOWN_ERROR)
            await asyncio.shield(self._finish(stream, reply))
            raise
        except Exception as exc:  # every failure becomes a clear reply, never silence
            kind, reason = describe_failure(exc)
            if kind == "internal":
                log.exception(f"{doing} failed", extra={"kind": kind})
            else:  # an outside service failed the way `reason` says: one line, no traceback
                log.warning(f"{doing} failed", extra={"kind": kind, "error": type(exc).__name__, "reason": reason})
            return False, (kind, reason)

    async def _load_history(self, key: str) -> tuple[list[Turn], bool]:
        try:
            turns = await self._history.load(key)
        except (RedisError, OSError) as exc:
            log.warning("history unavailable", extra={"error": type(exc).__name__})
            return [], False
        self._outage_announced = False  # back: the next outage is announced again
        return turns, True

    def _outage_notice(self, history_ok: bool) -> str:
        """Say once per outage (not on every answer) that the thread's memory is unavailable."""
        if history_ok or self._outage_announced:
            return ""
        self._outage_announced = True
        return "\n\n" + HISTORY_UNAVAILABLE

    async def _answer(self, message: IncomingMessage, stream: ReplyStream) -> Reply:
        started = time.perf_counter()
        first_token_s: float | None = None
        await stream.working()
        history, history_ok = await self._load_history(message.conversation_key)
        state: dict[str, Any] = {}
        text_so_far = ""
        rewrites = bool(history) and getattr(self._context, "chat_model", None) is not None
        await self._show_progress(stream, REWRITING if rewrites else SEARCHING)

        async def run_graph() -> None:
            nonlocal state, text_so_far, first_token_s
            async for mode, payload in self._graph.astream(
                {"question": message.text, "history": history, "scopes": self._scopes_for(message),
                 "thread": list(message.thread_messages)},
                context=self._context,
                stream_mode=["custom", "updates", "values"],
            ):
                if mode == "custom" and isinstance(payload, dict) and payload.get("delta"):
                    if first_token_s is None:
                        first_token_s = time.perf_counter() - started
                    text_so_far += payload["delta"]
                    await stream.push(text_so_far=text_so_far, delta=payload["delta"])
                elif mode == "updates" and isinstance(payload, dict):
                    for node, update in payload.items():
                        await self._show_progress(stream, progress_after(node, update))
                elif mode == "values":
                    state = payload

        stopped, failure = await self._run(run_graph(), stream, doing="answer")
        if failure is not None:
            kind, reason = failure
            reply = Reply(text=f"Sorry, I couldn't answer: {reason}" + self._outage_notice(history_ok),
                          answered=False, mode="error",
                          error=reason, history_available=history_ok)
            await self._finish(stream, reply)
            await self._record(message, reply, started, first_token_s, {}, error_kind=kind)
            return reply
        if stopped:
            # What was written stays, marked as cut short; it is no turn to remember.
            reply = replace(stopped_reply(text_so_far), history_available=history_ok)
            await self._finish(stream, reply)
            await self._record(message, reply, started, first_token_s, state.get("usage") or {},
                               error_kind=STOPPED_ERROR)
            return reply

        reply = Reply(
            text=state.get("answer", "") + self._outage_notice(history_ok),
            citations=tuple(state.get("citations") or ()),
            consulted=tuple(state.get("consulted") or ()),
            answered=bool(state.get("answered")),
            mode=state.get("mode", "none"),
            history_available=history_ok,
        )
        if first_token_s is None:
            first_token_s = time.perf_counter() - started
        reply = await self._keep_for_feedback(message, reply, redis_ok=history_ok)
        await self._finish(stream, reply)
        if history_ok and state.get("answer", "").strip():  # an empty answer is no turn to remember
            try:
                await self._history.append(message.conversation_key, Turn(message.text, reply.text, time.time()))
            except (RedisError, OSError):
                log.warning("could not save the turn")
        await self._record(message, reply, started, first_token_s, state.get("usage") or {})
        return reply

    async def _keep_for_feedback(self, message: IncomingMessage, reply: Reply, *, redis_ok: bool) -> Reply:
        """`reply` with the id its 👍/👎 will name, kept first so a vote always finds it.

        When it can't be kept (Redis down) it still gets its id: votes on it are then only counted. When
        Redis just failed (`redis_ok` False: the history could not be read) the answer is not held up by
        trying again.
        """
        if self._answers is None:
            return reply
        reply = replace(reply, answer_id=new_answer_id())
        if not redis_ok:
            return reply
        try:
            await self._answers.record_answer(message, reply)
        except (RedisError, OSError):
            log.warning("could not keep the answer for feedback")
        return reply

    @staticmethod
    async def _show_progress(stream: ReplyStream, status: str | None) -> None:
        """Tell a stream that can show progress what the agent does now; a failure to show it is cosmetic."""
        if status is None or not isinstance(stream, ShowsProgress):
            return
        try:
            await stream.status(status)
        except Exception:  # progress is decoration: the answer goes on
            log.warning("could not show progress", exc_info=True)

    @staticmethod
    async def _finish(stream: ReplyStream, reply: Reply) -> None:
        try:
            await stream.finish(reply)
        except Exception:  # the platform failing to show it must not lose the turn
            log.exception("could not deliver the reply")

    async def _record(self, message: IncomingMessage, reply: Reply, started: float, first_token_s: float | None,
                      usage: dict[str, int], *, error_kind: str | None = None) -> None:
        record = QuestionRecord(
            platform=message.platform, workspace=message.workspace, channel=message.channel, user=message.user,
            question=message.text, answered=reply.answered, mode=reply.mode, first_token_s=first_token_s,
            total_s=time.perf_counter() - started, input_tokens=usage.get("input_tokens", 0),
            output_tokens=usage.get("output_tokens", 0), cited_sources=tuple(c.source for c in reply.citations),
            error_kind=error_kind, tokens_estimated=bool(usage.get("estimated")),
            # Reports name a question only to people who can read where it was asked; a DM is its asker's.
            visibility="private" if message.is_dm else message.visibility,
        )
        if self._metrics is not None:
            outcome = "error" if error_kind else ("answered" if reply.answered else "unanswered")
            self._metrics.observe_answer(
                platform=message.platform, outcome=outcome, total_s=record.total_s, first_token_s=first_token_s,
                input_tokens=record.input_tokens, output_tokens=record.output_tokens, error_kind=error_kind,
            )
        try:
            await self._usage.record_question(record)
        except (RedisError, OSError):
            log.warning("could not record usage")

    @property
    def in_flight(self) -> int:
        """Answers being worked on right now."""
        return len(self._in_flight)

    async def drain(self, *, timeout_s: float) -> None:
        """Stop taking messages, let answers in flight finish, and end the rest with a notice.

        Messages arriving from now on are told the bot is restarting rather than left unanswered.
        """
        self._accepting = False
        pending = set(self._in_flight)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)

    async def forget(self, conversation_key: str) -> None:
        """Clear a thread's history."""
        await self._history.clear(conversation_key)

    async def recall(self, conversation_key: str) -> list[Turn]:
        """A thread's remembered turns, oldest first."""
        return await self._history.load(conversation_key)
