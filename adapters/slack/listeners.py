"""Bolt listeners: acknowledge at once, hand the work to the adapter in the background.

`register(app, handlers=..., commands=...)` adds every listener explicitly
and returns what it registered, so the manifest test can compare the two.
Importing this module does nothing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncAssistant, AsyncSetSuggestedPrompts
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.set_title.async_set_title import AsyncSetTitle

from adapters.slack.threads import SAVE_CALLBACK_ID, SUMMARIZE_CALLBACK_ID
from adapters.slack.translate import (
    ASSISTANT_EVENTS,
    FEEDBACK_ACTION_PREFIX,
    REASON_ACTION,
    STOP_ACTION,
    UPLOAD_CALLBACK_ID,
)

EVENTS = ("app_mention", "message")
"""Event types the app listens to (the manifest declares `message.*` for each conversation kind)."""
SHORTCUTS = (SUMMARIZE_CALLBACK_ID, SAVE_CALLBACK_ID)
"""Message shortcuts: "Summarize this thread" and "Save to knowledge"."""


class Handlers(Protocol):
    """What the listeners call; implemented by `SlackAdapter`. Each runs after the ack."""

    def spawn(self, work: Awaitable[None], *, name: str) -> None: ...

    async def on_event(self, *, body: dict[str, Any], bot_user_id: str | None) -> None: ...

    async def on_ask(self, *, command: dict[str, Any]) -> None: ...

    async def on_upload_command(self, *, command: dict[str, Any]) -> None: ...

    async def on_upload_submission(self, *, body: dict[str, Any]) -> None: ...

    async def on_kb(self, *, command: dict[str, Any]) -> None: ...

    async def on_stats(self, *, command: dict[str, Any]) -> None: ...

    async def on_feedback(self, *, body: dict[str, Any]) -> None: ...

    async def on_feedback_reason(self, *, body: dict[str, Any]) -> None: ...

    async def on_stop(self, *, body: dict[str, Any]) -> None: ...

    async def on_message_shortcut(self, *, body: dict[str, Any], bot_user_id: str | None) -> None: ...

    async def on_assistant_thread(self, *, body: dict[str, Any],
                                  set_suggested_prompts: AsyncSetSuggestedPrompts) -> None: ...

    async def on_assistant_message(self, *, body: dict[str, Any], bot_user_id: str | None,
                                   set_title: AsyncSetTitle) -> None: ...


@dataclass(frozen=True, slots=True)
class CommandNames:
    ask: str
    upload: str
    kb: str
    stats: str


@dataclass(frozen=True, slots=True)
class Registration:
    """Everything `register` told Bolt to listen to."""

    events: tuple[str, ...]
    commands: tuple[str, ...]
    actions: tuple[str, ...]
    views: tuple[str, ...]
    shortcuts: tuple[str, ...] = ()
    """Callback ids of the message shortcuts (manifest.yml `features.shortcuts`)."""


def register(app: AsyncApp, *, handlers: Handlers, commands: CommandNames) -> Registration:
    """Add all of teambot's listeners to `app`."""

    async def event(body: dict[str, Any], context: AsyncBoltContext) -> None:
        # Bolt acknowledges Events API requests before calling us.
        handlers.spawn(handlers.on_event(body=body, bot_user_id=context.bot_user_id), name="slack-event")

    for event_type in EVENTS:
        app.event(event_type)(event)

    def command_listener(work: Callable[..., Awaitable[None]], name: str) -> Callable[..., Awaitable[None]]:
        async def listener(ack: AsyncAck, command: dict[str, Any]) -> None:
            # Schedule first, then ack: the work is tracked before Slack sees the 200.
            handlers.spawn(work(command=command), name=name)
            await ack()
        return listener

    app.command(commands.ask)(command_listener(handlers.on_ask, "slack-ask"))
    app.command(commands.upload)(command_listener(handlers.on_upload_command, "slack-upload"))
    app.command(commands.kb)(command_listener(handlers.on_kb, "slack-kb"))
    app.command(commands.stats)(command_listener(handlers.on_stats, "slack-stats"))

    async def upload_submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        handlers.spawn(handlers.on_upload_submission(body=body), name="slack-upload-submit")
        await ack()  # an empty ack closes the modal

    app.view(UPLOAD_CALLBACK_ID)(upload_submitted)

    async def feedback(ack: AsyncAck, body: dict[str, Any]) -> None:
        handlers.spawn(handlers.on_feedback(body=body), name="slack-feedback")
        await ack()

    app.action(re.compile("^" + re.escape(FEEDBACK_ACTION_PREFIX)))(feedback)

    async def feedback_reason(ack: AsyncAck, body: dict[str, Any]) -> None:
        handlers.spawn(handlers.on_feedback_reason(body=body), name="slack-feedback-reason")
        await ack()

    app.action(REASON_ACTION)(feedback_reason)

    async def stop(ack: AsyncAck, body: dict[str, Any]) -> None:
        handlers.spawn(handlers.on_stop(body=body), name="slack-stop")
        await ack()

    app.action(STOP_ACTION)(stop)

    async def message_shortcut(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        handlers.spawn(handlers.on_message_shortcut(body=body, bot_user_id=context.bot_user_id),
                       name="slack-shortcut")
        await ack()

    for callback_id in SHORTCUTS:
        app.shortcut(callback_id)(message_shortcut)

    app.assistant(_assistant(handlers))

    return Registration(
        events=EVENTS + ASSISTANT_EVENTS,
        commands=(commands.ask, commands.upload, commands.kb, commands.stats),
        actions=(FEEDBACK_ACTION_PREFIX + "*", REASON_ACTION, STOP_ACTION),
        views=(UPLOAD_CALLBACK_ID,),
        shortcuts=SHORTCUTS,
    )


def _assistant(handlers: Handlers) -> AsyncAssistant:
    """The agent view, through Bolt's `Assistant` middleware: a thread opened (or the channel beside it
    changed) gets suggested prompts; a user's message in it is answered like any DM, and titles the thread.

    The middleware takes every message in a DM's thread (without a bot id) before the `message` listener,
    so those all come here; they are DMs like the others, and go the same way.
    """
    assistant = AsyncAssistant()

    async def thread_opened(body: dict[str, Any], set_suggested_prompts: AsyncSetSuggestedPrompts) -> None:
        handlers.spawn(handlers.on_assistant_thread(body=body, set_suggested_prompts=set_suggested_prompts),
                       name="slack-assistant-thread")

    async def user_message(body: dict[str, Any], context: AsyncBoltContext, set_title: AsyncSetTitle) -> None:
        handlers.spawn(handlers.on_assistant_message(body=body, bot_user_id=context.bot_user_id, set_title=set_title),
                       name="slack-assistant-message")

    assistant.thread_started(thread_opened)
    # Registered, so Bolt's default (saving the context in the thread's first bot message) never runs.
    assistant.thread_context_changed(thread_opened)
    assistant.user_message(user_message)
    return assistant
