"""Reading a Slack thread for the bot: `conversations.replies` in, bounded `ThreadMessage`s out; and the two
message shortcuts, "Summarize this thread" and "Save to knowledge".

A thread is read when the bot is asked inside one (a mention or a follow-up) and when a shortcut is used
on one of its messages. Its messages are strangers' text: each is made plain (Slack's `<@U1>`, `<#C1|x>`
and `<url|label>` markup spelled out, entities decoded, control and invisible characters removed) and
cut, and the thread is bounded: its root and the most recent replies, within a count and a total size
(`bot.threads`).
The bot's own messages are left out (its answers are in its history already, and saving them would
store the documents' words again). Reading honours Slack's rate limits (the client retries after
`Retry-After`) within a deadline; past it, or on any error, the answer goes on without the thread.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import translate
from adapters.slack.mrkdwn import unescape
from bot.core.labels import clean_label
from bot.core.values import IncomingMessage, ThreadMessage
from bot.threads import MAX_MESSAGE_CHARS, MAX_THREAD_MESSAGES, author_label, bound_thread, clean_message_text

SUMMARIZE_CALLBACK_ID = "teambot_summarize_thread"
SAVE_CALLBACK_ID = "teambot_save_thread"
"""The message shortcuts' callback ids (manifest.yml `features.shortcuts`)."""

PAGE_SIZE = 200
"""Messages asked for per `conversations.replies` call (Slack's advice: no more than 200)."""
MAX_PAGES = 10
"""Pages read at most: 2,000 messages, far beyond any thread people read."""
READ_TIMEOUT_S = 10.0
"""How long the answer waits for the thread, rate-limit retries included."""

_CONTENT_SUBTYPES = frozenset({None, "file_share", "thread_broadcast", "bot_message", "me_message"})
"""Subtypes that carry someone's words; joins, topic changes and the like carry none."""
_USER = re.compile(r"<@([A-Z0-9]+)(?:\|([^<>]*))?>")
_CHANNEL = re.compile(r"<#([A-Z0-9]+)(?:\|([^<>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^<>]*)?>|<!subteam\^[A-Z0-9]+(?:\|([^<>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^<>|]*)(?:\|([^<>]*))?>")


def plain_text(text: str, *, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """A message's Slack text as plain text: mentions as `@U1` (or the name Slack put in them), channels
    as `#name`, links as `label (url)`; entities decoded; control and invisible characters removed, line
    breaks kept; cut to `max_chars` with "…"."""
    text = text[: max_chars * 2]  # the markup below only shrinks it; a 40,000-character message costs no more
    text = _USER.sub(lambda m: f"@{m.group(2) or m.group(1)}", text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(2) or m.group(1)}", text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(1) or m.group(2) or 'group'}", text)
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) and m.group(2) != m.group(1)
                     else m.group(1), text)
    return clean_message_text(unescape(text), max_chars=max_chars)


def _author(message: Mapping[str, Any]) -> str:
    profile = message.get("user_profile")
    bot = message.get("bot_profile")
    profile = profile if isinstance(profile, Mapping) else {}
    bot = bot if isinstance(bot, Mapping) else {}
    return author_label(profile.get("display_name"), profile.get("real_name"), message.get("username"),
                        bot.get("name"), message.get("user"), message.get("bot_id"))


def _at(ts: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def thread_message(message: Any, *, bot_user_id: str | None) -> ThreadMessage | None:
    """One `conversations.replies` message as a `ThreadMessage`, or None: the bot's own, a join or topic
    change, one without words, or one that is not a message object."""
    if not isinstance(message, Mapping) or message.get("subtype") not in _CONTENT_SUBTYPES:
        return None
    if bot_user_id is not None and message.get("user") == bot_user_id:
        return None
    at = _at(message.get("ts"))
    text = plain_text(str(message.get("text") or ""))
    if at is None or not text:
        return None
    return ThreadMessage(author=_author(message), text=text, at=at)


async def read_thread(client: AsyncWebClient, *, channel: str, thread_ts: str, bot_user_id: str | None,
                      before_ts: str | None = None) -> tuple[ThreadMessage, ...]:
    """The thread rooted at `thread_ts`, said before `before_ts` if given (the question itself and what
    came after are not context), bounded (`bounded`). Raises `SlackApiError` as the client does."""
    root: ThreadMessage | None = None
    recent: deque[ThreadMessage] = deque(maxlen=MAX_THREAD_MESSAGES)
    cursor: str | None = None
    before = float(before_ts) if before_ts else None
    for _ in range(MAX_PAGES):
        extra: dict[str, Any] = {"cursor": cursor} if cursor else {}
        if before_ts:
            extra.update(latest=before_ts, inclusive=False)
        response = await client.conversations_replies(channel=channel, ts=thread_ts, limit=PAGE_SIZE, **extra)
        for raw in response.get("messages") or []:
            at = _at(raw.get("ts")) if isinstance(raw, Mapping) else None
            if at is None or (before is not None and at.timestamp() >= before):
                continue
            message = thread_message(raw, bot_user_id=bot_user_id)
            if str(raw.get("ts")) == thread_ts:
                root = message
            elif message is not None:
                recent.append(message)
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not response.get("has_more") or not cursor:
            break
    return bound_thread(root, list(recent))


# --- message shortcuts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageShortcut:
    """A message shortcut used on a message: who, where, and the thread the message belongs to."""

    callback_id: str
    workspace: str
    channel: str
    channel_name: str
    user: str
    message_ts: str
    thread_ts: str
    """The thread's root: the message's `thread_ts`, or the message itself when it starts no thread yet."""
    response_url: str | None = None
    """Where Slack takes replies to the shortcut for 30 minutes, even in a channel the bot is not in."""

    def message(self, thread_messages: tuple[ThreadMessage, ...] = ()) -> IncomingMessage:
        """The shortcut as a message of its user in the thread (what the command service takes)."""
        is_dm = self.channel.startswith("D") or self.channel_name == "directmessage"
        return IncomingMessage(platform=translate.PLATFORM, workspace=self.workspace, channel=self.channel,
                               thread=self.thread_ts, user=self.user, text="", is_dm=is_dm, mentions_bot=True,
                               thread_messages=thread_messages)

    @property
    def place(self) -> str:
        """`#name` of the channel, for a saved thread's heading ("" in DMs or when Slack gave no name)."""
        name = clean_label(self.channel_name, max_chars=80)
        return f"#{name}" if name and name not in ("directmessage", "privategroup") else ""


def shortcut_from(body: Mapping[str, Any]) -> MessageShortcut | None:
    """A `message_action` interaction payload, or None when it is some other kind or lacks the message."""
    if body.get("type") != "message_action":
        return None
    channel = body.get("channel") if isinstance(body.get("channel"), Mapping) else {}
    message = body.get("message") if isinstance(body.get("message"), Mapping) else {}
    user = body.get("user") if isinstance(body.get("user"), Mapping) else {}
    assert isinstance(channel, Mapping) and isinstance(message, Mapping) and isinstance(user, Mapping)
    message_ts = str(body.get("message_ts") or message.get("ts") or "")
    if not channel.get("id") or not message_ts:
        return None
    return MessageShortcut(callback_id=str(body.get("callback_id") or ""), workspace=translate.workspace_of(body),
                           channel=str(channel["id"]), channel_name=str(channel.get("name") or ""),
                           user=str(user.get("id") or ""), message_ts=message_ts,
                           thread_ts=str(message.get("thread_ts") or message_ts),
                           response_url=body["response_url"] if isinstance(body.get("response_url"), str) else None)


_OUTSIDE_CHANNEL = frozenset({"not_in_channel", "channel_not_found"})
"""What Slack answers the bot about a conversation it is not a member of (public, or private and hidden)."""


def unreadable_reason(error: str | None, *, shortcut: MessageShortcut) -> str | None:
    """Why the thread a shortcut was used on could not be read, in words its user can act on; None when
    Slack said nothing telling (a timeout, an outage, an empty thread)."""
    if error in _OUTSIDE_CHANNEL:
        if shortcut.message().is_dm or shortcut.channel_name.startswith("mpdm-"):  # no one can invite me there
            return "I can't read direct messages I'm not part of"
        return "I'm not in this channel, so I can't read it (invite me with `/invite @teambot`, then try again)"
    if error == "missing_scope":
        return "I'm not allowed to read this kind of conversation (a Slack admin can grant the permission)"
    return None
