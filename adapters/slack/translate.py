"""Slack payloads in, plain values out: the only place that knows Slack's JSON shapes.

Everything here is pure: no network, no Redis. The adapter does the I/O
(is this a thread the bot answered in? download the files) and passes the
results in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.core.values import Attachment, IncomingMessage, Scope, Visibility

PLATFORM = "slack"

# Message subtypes that still carry a user's words; every other subtype is an
# edit, a deletion, a join, a bot post... and is not for the bot.
_USER_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})

FEEDBACK_ACTION_PREFIX = "teambot_feedback_"
FEEDBACK_ACTION = FEEDBACK_ACTION_PREFIX + "buttons"
"""The `feedback_buttons` element's action: its value says which button."""
HELPFUL_VALUE = "helpful"
NOT_HELPFUL_VALUE = "not_helpful"
HELPFUL_ACTION = FEEDBACK_ACTION_PREFIX + "helpful"
NOT_HELPFUL_ACTION = FEEDBACK_ACTION_PREFIX + "not_helpful"
"""The two buttons answers had before `feedback_buttons`: clicks on older answers still count."""
REASON_ACTION = "teambot_why"
"""The buttons offered after a 👎 (what was wrong): the value is the reason, the block id names the answer."""
ANSWER_ID_SEPARATOR = ":"
"""Between a block's own id and the id of the answer it is about (`teambot_feedback:<answer id>`)."""
STOP_ACTION = "teambot_stop"
UPLOAD_CALLBACK_ID = "teambot_upload"
UPLOAD_FILES_BLOCK = "files"
UPLOAD_NOTE_BLOCK = "note"


Route = Literal["ignore", "mention", "dm", "maybe_follow_up"]


def _mention_token(bot_user_id: str) -> str:
    return f"<@{bot_user_id}>"


def mentions_bot(text: str, *, bot_user_id: str | None) -> bool:
    """True when `text` @-mentions the bot user (`<@U123>` or `<@U123|name>`)."""
    if not bot_user_id:
        return False
    return re.search(rf"<@{re.escape(bot_user_id)}(\|[^<>]*)?>", text) is not None


def strip_mention(text: str, *, bot_user_id: str | None) -> str:
    """The text without the bot's own mention tokens, whitespace tidied."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^<>]*)?>", " ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def is_from_bot_or_noise(event: Mapping[str, Any], *, bot_user_id: str | None) -> bool:
    """Bots (including this one), edits, deletions and other system messages are never answered."""
    if event.get("bot_id") or event.get("bot_profile"):
        return True
    if event.get("subtype") not in _USER_SUBTYPES:
        return True
    user = event.get("user")
    return not user or (bot_user_id is not None and user == bot_user_id)


def route_event(event: Mapping[str, Any], *, bot_user_id: str | None) -> Route:
    """What to do with an `app_mention` or `message` event, before any I/O.

    - `mention`: an @mention in a channel; answer in its thread.
    - `dm`: a direct message; answer in its thread.
    - `maybe_follow_up`: a plain reply in a thread; answer only if the bot
      has answered in that thread (the adapter checks).
    - `ignore`: anything else. Channel messages that mention the bot are
      ignored here because Slack also sends them as `app_mention`.
    """
    if is_from_bot_or_noise(event, bot_user_id=bot_user_id):
        return "ignore"
    kind = event.get("type")
    if kind == "app_mention":
        return "mention"
    if kind != "message":
        return "ignore"
    if event.get("channel_type") == "im":
        return "dm"
    if mentions_bot(event.get("text") or "", bot_user_id=bot_user_id):
        return "ignore"
    if event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
        return "maybe_follow_up"
    return "ignore"


def thread_of(event: Mapping[str, Any]) -> str:
    """The thread an answer belongs in: the event's thread, or the message itself as a new thread's root."""
    return str(event.get("thread_ts") or event["ts"])


def workspace_of(body: Mapping[str, Any]) -> str:
    """The team id of an Events API envelope, a slash command or an interaction payload."""
    event = body.get("event") or {}
    team = body.get("team")
    return str(
        body.get("team_id")
        or (team.get("id") if isinstance(team, Mapping) else team)
        or event.get("team")
        or "unknown"
    )


def attachments_of(files: Any) -> tuple[Attachment, ...]:
    """Slack file objects -> `Attachment`s to download (data not yet filled)."""
    result = []
    for file in files or ():
        if not isinstance(file, Mapping) or file.get("mode") == "tombstone":
            continue
        result.append(Attachment(
            name=str(file.get("name") or file.get("title") or file.get("id") or "file"),
            url=file.get("url_private_download") or file.get("url_private"),
            size=file.get("size"),
            mime_type=file.get("mimetype"),
            source_url=file.get("permalink") if isinstance(file.get("permalink"), str) else None,
        ))
    return tuple(result)


def file_ids_of(files: Any) -> dict[str, str]:
    """Name -> file id, for files whose event copy lacks a download URL (`files.info` fills it)."""
    return {str(f.get("name") or f.get("id")): str(f["id"]) for f in files or ()
            if isinstance(f, Mapping) and f.get("id")}


_CHANNEL_TYPES: dict[str, Visibility] = {"channel": "public", "group": "private", "im": "private", "mpim": "private"}


def visibility_of_event(event: Mapping[str, Any]) -> Visibility:
    """Who can read the event's channel, from `channel_type` (`message` events have it, `app_mention` not)."""
    return _CHANNEL_TYPES.get(str(event.get("channel_type") or ""), "unknown")


def visibility_of_command(command: Mapping[str, Any]) -> Visibility:
    """Who can read a slash command's channel: `channel_name` tells DMs and (legacy) private groups only."""
    name = str(command.get("channel_name") or "")
    if name in ("directmessage", "privategroup") or name.startswith("mpdm-"):
        return "private"
    return "unknown"


def message_from_event(body: Mapping[str, Any], *, bot_user_id: str | None) -> IncomingMessage:
    """An `app_mention` or `message` Events API envelope -> `IncomingMessage`."""
    event = body["event"]
    text = event.get("text") or ""
    return IncomingMessage(
        platform=PLATFORM,
        workspace=workspace_of(body),
        channel=str(event["channel"]),
        thread=thread_of(event),
        user=str(event.get("user") or ""),
        text=strip_mention(text, bot_user_id=bot_user_id),
        attachments=attachments_of(event.get("files")),
        is_dm=event.get("channel_type") == "im",
        mentions_bot=event.get("type") == "app_mention" or mentions_bot(text, bot_user_id=bot_user_id),
        event_id=body.get("event_id"),
        visibility=visibility_of_event(event),
    )


def message_from_command(command: Mapping[str, Any], *, thread: str) -> IncomingMessage:
    """A slash command form (`/ask QUESTION`) -> `IncomingMessage` answered in `thread`."""
    channel = str(command["channel_id"])
    return IncomingMessage(
        platform=PLATFORM,
        workspace=workspace_of(command),
        channel=channel,
        thread=thread,
        user=str(command.get("user_id") or ""),
        text=(command.get("text") or "").strip(),
        is_dm=channel.startswith("D") or command.get("channel_name") == "directmessage",
        mentions_bot=True,
        event_id=command.get("trigger_id"),
        visibility=visibility_of_command(command),
    )


# --- /upload modal ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """Where a `/upload` modal's files go; carried through the modal in `private_metadata`."""

    workspace: str
    channel: str
    user: str
    workspace_wide: bool = False
    """`/upload everywhere` (admins): the files become visible in every channel of the workspace."""

    @property
    def scope(self) -> Scope:
        channel = Scope(PLATFORM, self.workspace, self.channel)
        return channel.workspace_wide() if self.workspace_wide else channel

    def to_metadata(self) -> str:
        return json.dumps({"workspace": self.workspace, "channel": self.channel, "user": self.user,
                           "workspace_wide": self.workspace_wide})


EVERYWHERE_WORDS = frozenset({"everywhere", "workspace", "all"})


def upload_target_from_command(command: Mapping[str, Any]) -> UploadTarget:
    return UploadTarget(workspace=workspace_of(command), channel=str(command["channel_id"]),
                        user=str(command.get("user_id") or ""),
                        workspace_wide=(command.get("text") or "").strip().lower() in EVERYWHERE_WORDS)


@dataclass(frozen=True, slots=True)
class UploadSubmission:
    target: UploadTarget
    files: tuple[Attachment, ...]
    file_ids: dict[str, str]
    note: str
    user: str


def upload_submission(body: Mapping[str, Any]) -> UploadSubmission:
    """A `view_submission` of the upload modal -> target channel, files and note."""
    view = body["view"]
    meta = json.loads(view.get("private_metadata") or "{}")
    values = (view.get("state") or {}).get("values") or {}
    files_value: Mapping[str, Any] = next(iter((values.get(UPLOAD_FILES_BLOCK) or {}).values()), {}) or {}
    note_value: Mapping[str, Any] = next(iter((values.get(UPLOAD_NOTE_BLOCK) or {}).values()), {}) or {}
    user = str((body.get("user") or {}).get("id") or meta.get("user") or "")
    target = UploadTarget(workspace=str(meta.get("workspace") or workspace_of(body)),
                          channel=str(meta.get("channel") or ""), user=str(meta.get("user") or user),
                          workspace_wide=bool(meta.get("workspace_wide")))
    files = files_value.get("files") or []
    return UploadSubmission(target=target, files=attachments_of(files), file_ids=file_ids_of(files),
                            note=(note_value.get("value") or "").strip(), user=user)


# --- feedback buttons ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Feedback:
    helpful: bool
    user: str
    channel: str
    message_ts: str
    answer_id: str | None = None
    """The answer rated, named by the block the buttons are in (older answers' buttons name none)."""


def block_id_for(block: str, answer_id: str | None) -> str:
    """The id of a block about an answer: `block:answer_id` (Slack sends it back with each click)."""
    return f"{block}{ANSWER_ID_SEPARATOR}{answer_id}" if answer_id else block


def _answer_id_of(action: Mapping[str, Any]) -> str | None:
    answer_id = str(action.get("block_id") or "").partition(ANSWER_ID_SEPARATOR)[2]
    return answer_id if answer_id.isalnum() else None


def feedback_from_action(body: Mapping[str, Any]) -> Feedback | None:
    """A `block_actions` click on one of the answer's feedback buttons, or None.

    `feedback_buttons` send one action id with the clicked button's value; the older answers'
    two buttons each had their own action id.
    """
    actions = body.get("actions") or []
    action = next((a for a in actions if str(a.get("action_id", "")).startswith(FEEDBACK_ACTION_PREFIX)), None)
    if action is None:
        return None
    if action["action_id"] == FEEDBACK_ACTION:
        if action.get("value") not in (HELPFUL_VALUE, NOT_HELPFUL_VALUE):
            return None
        helpful = action.get("value") == HELPFUL_VALUE
    else:
        helpful = action["action_id"] == HELPFUL_ACTION
    channel, message_ts = _clicked_message(body)
    return Feedback(helpful=helpful, user=_clicking_user(body), channel=channel, message_ts=message_ts,
                    answer_id=_answer_id_of(action))


@dataclass(frozen=True, slots=True)
class ReasonChoice:
    """What a 👎 voter says was wrong, picked from the buttons offered after their vote."""

    reason: str
    answer_id: str
    user: str
    channel: str
    response_url: str | None
    """Where the offer (an ephemeral message) is replaced by the thanks."""


def reason_from_action(body: Mapping[str, Any]) -> ReasonChoice | None:
    """A click on one of the "what was wrong" buttons, or None."""
    action = next((a for a in body.get("actions") or [] if a.get("action_id") == REASON_ACTION), None)
    answer_id = _answer_id_of(action) if action is not None else None
    if action is None or answer_id is None:
        return None
    channel, _ = _clicked_message(body)
    response_url = body.get("response_url")
    return ReasonChoice(reason=str(action.get("value") or ""), answer_id=answer_id, user=_clicking_user(body),
                        channel=channel, response_url=response_url if isinstance(response_url, str) else None)


@dataclass(frozen=True, slots=True)
class StopRequest:
    user: str
    channel: str
    message_ts: str


def stop_from_action(body: Mapping[str, Any]) -> StopRequest | None:
    """A click on the Stop button of an answer being written, or None."""
    if not any(a.get("action_id") == STOP_ACTION for a in body.get("actions") or []):
        return None
    channel, message_ts = _clicked_message(body)
    return StopRequest(user=_clicking_user(body), channel=channel, message_ts=message_ts)


def _clicking_user(body: Mapping[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "")


def _clicked_message(body: Mapping[str, Any]) -> tuple[str, str]:
    """(channel, ts) of the message whose button was clicked."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    return (str(container.get("channel_id") or (body.get("channel") or {}).get("id") or ""),
            str(container.get("message_ts") or message.get("ts") or ""))


ASSISTANT_EVENTS = ("assistant_thread_started", "assistant_thread_context_changed")
"""The agent view's events: a user opened a conversation with the app, or moved to another channel with it open."""


@dataclass(frozen=True, slots=True)
class AssistantThread:
    """A conversation in the app's agent view: the DM thread, and the channel its user is looking at."""

    place: IncomingMessage
    """Where the conversation is (the DM and its thread), as a message with no text."""
    viewing: str | None
    """The channel the user has open beside it, when Slack says and it is in the same workspace."""


def assistant_thread_of(body: Mapping[str, Any]) -> AssistantThread | None:
    """The conversation an `assistant_thread_started` / `..._context_changed` event is about; None if the
    payload lacks its DM, thread or user."""
    event = body.get("event") or {}
    thread = event.get("assistant_thread") if isinstance(event, Mapping) else None
    if not isinstance(thread, Mapping):
        return None
    channel, thread_ts, user = thread.get("channel_id"), thread.get("thread_ts"), thread.get("user_id")
    if not (isinstance(channel, str) and channel and isinstance(thread_ts, str) and thread_ts
            and isinstance(user, str) and user):
        return None
    workspace = workspace_of(body)
    context = thread.get("context")
    if not isinstance(context, Mapping):
        context = {}
    viewing = context.get("channel_id")
    # A channel of another team (Slack Connect, an org's other workspace) is none of this workspace's.
    if not isinstance(viewing, str) or not viewing or context.get("team_id") not in (None, workspace):
        viewing = None
    place = IncomingMessage(platform=PLATFORM, workspace=workspace, channel=channel, thread=thread_ts, user=user,
                            text="", is_dm=True, visibility="private", event_id=body.get("event_id"))
    return AssistantThread(place=place, viewing=viewing)
