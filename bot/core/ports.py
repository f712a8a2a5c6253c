"""Ports: what the dispatcher and the agent need from the parts around them, as protocols.

Implementations live outside the kernel (Redis stores in `bot`, streams and report destinations in
`adapters`, the agent graph in `agent`); nothing here knows about them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from bot.core.values import IncomingMessage, QuestionRecord, Reply, Report, Turn


class ReplyStream(Protocol):
    """How one answer reaches the user on a platform, step by step."""

    async def working(self) -> None:
        """Show at once that the bot is working (placeholder, typing, status)."""

    async def push(self, *, text_so_far: str, delta: str) -> None:
        """A new piece of the answer arrived; the adapter may rate-limit visible updates."""

    async def finish(self, reply: Reply) -> None:
        """Show the final answer (or the error it carries) and end the working state."""


@runtime_checkable
class ShowsProgress(Protocol):
    """A `ReplyStream` that can also say what the agent is doing ("Searching the documents").

    Optional: the dispatcher calls `status` only on streams that have it; the others show `working` alone.
    """

    async def status(self, text: str) -> None:
        """The agent moved on to the step `text` describes (a short sentence, no markup)."""


@runtime_checkable
class Stoppable(Protocol):
    """A `ReplyStream` whose reader can stop the answer (a Stop button).

    Optional: the dispatcher races the answer against `stop_requested` on streams that have it, and
    on a stop ends the answer with what was written so far.
    """

    async def stop_requested(self) -> None:
        """Return once the reader asked to stop the answer (never returns if they don't)."""


class HistoryStore(Protocol):
    """Where conversations remember their earlier turns."""

    async def load(self, conversation_key: str) -> list[Turn]:
        """Oldest first."""

    async def append(self, conversation_key: str, turn: Turn) -> None: ...

    async def clear(self, conversation_key: str) -> None: ...


class UsageRecorder(Protocol):
    async def record_question(self, record: QuestionRecord) -> None: ...

    async def record_upload(self, *, platform: str, channel: str, documents: int, chunks: int, failures: int,
                            at: datetime | None = None, workspace: str | None = None) -> None: ...

    async def record_feedback(self, *, platform: str, helpful: bool, at: datetime | None = None,
                              workspace: str | None = None) -> None: ...


class AnswerLog(Protocol):
    """Where answers are kept for a while, so a 👍/👎 on one can say what it rated (`bot.feedback.RedisFeedback`)."""

    async def record_answer(self, message: IncomingMessage, reply: Reply) -> None:
        """Keep `reply` (which has its `answer_id`) to `message`; raise `RedisError`/`OSError` when it can't."""


class Answerer(Protocol):
    """What the dispatcher runs for each question: the agent's compiled graph.

    Called with `{"question": str, "history": list[Turn], "scopes": list[Scope], "thread":
    list[ThreadMessage]}`, the run-time
    context and `stream_mode=["custom", "updates", "values"]`; yields `("custom", {"delta": str})` for
    each piece of the answer, `("updates", {node: update})` as each step ends (what progress is shown
    from) and `("values", state)` with the state so far (`answer`, `citations`, `consulted`,
    `answered`, `mode`, `usage`).
    """

    def astream(self, input: Any, /, *, context: Any, stream_mode: Any) -> AsyncIterator[Any]: ...


class Claims(Protocol):
    """Answer-once claims and the threads the bot owns (`bot.claims.Claims`).

    When Redis is down a claim is granted (answer anyway, maybe twice), remembering is skipped
    and no thread is known to be ours.
    """

    async def claim(self, platform: str, key: str, *, ttl_s: int) -> bool: ...

    async def remember_thread(self, platform: str, thread: str, *, ttl_s: int, parent: str = "1") -> None: ...

    async def thread_parent(self, platform: str, thread: str) -> str | None: ...

    async def owns_thread(self, platform: str, thread: str) -> bool: ...


class ReportDestination(Protocol):
    """A platform the scheduled usage reports are posted to (its adapter implements this).

    Reports go to one channel of it, named by the platform's own id. Which figures a report may
    show is decided outside (by `bot.reports`), from the workspace `channel_workspace` names.
    """

    platform: str

    async def channel_workspace(self, channel: str) -> str:
        """The workspace (Slack team, Discord server) `channel` belongs to; raise when it can't be told."""

    async def post_report(self, *, channel: str, report: Report) -> None:
        """Post `report` (text and chart) in `channel`; raise on failure (the period is then retried)."""


class BotCore(Protocol):
    """What a platform adapter gets from the running core, and nothing more.

    `commands` is `bot.commands.Commands` (ask, forget, feedback, list, delete, upload, stats; its
    results render with the platform's escaping) and `settings` is `bot.settings.Settings`:
    named `Any` here because the kernel imports nothing of ours. `bot.app.Teambot` is one.
    """

    @property
    def settings(self) -> Any: ...

    @property
    def commands(self) -> Any: ...

    @property
    def claims(self) -> Claims: ...
