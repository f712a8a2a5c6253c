"""The Slack adapter: one Bolt app, served over HTTP (`POST /slack/events`) or Socket Mode.

Listeners only acknowledge; the work happens here, in tracked background
tasks, so Slack always gets its ack well inside 3 s. Redis remembers which
events were already handled (Slack retries and Socket Mode redeliveries)
and which threads the bot answered in (follow-ups without a mention).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp, AsyncSetSuggestedPrompts
from slack_bolt.context.set_title.async_set_title import AsyncSetTitle
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.base import Adapter
from adapters.slack import reports, threads, translate
from adapters.slack.blocks import reason_blocks
from adapters.slack.listeners import CommandNames, Registration, register
from adapters.slack.mrkdwn import escape, to_mrkdwn, unescape
from adapters.slack.origins import SLACK_FILES_ORIGIN, SLACK_RESPONSE_ORIGIN, Origins
from adapters.slack.stream import NativeStreaming, SlackReplyStream, StreamingAvailability
from bot.commands import FileOutcome, outcomes_text
from bot.core.ports import BotCore
from bot.core.values import Actor, Attachment, IncomingMessage, Report, Scope, ThreadMessage, Visibility
from bot.core.visibility import upload_scope
from bot.feedback import REASON_CHOICES, REASON_PROMPT, THANKS, is_reason, reason_thanks
from bot.httpbody import BodyTooLarge, read_body
from bot.reports.stats import STATS_COMMAND
from bot.suggestions import PROMPTS_HEADING, thread_title
from bot.threads import asks_for_summary

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
VISIBILITY_CACHE_SIZE = 2000
"""Channels whose visibility (public or private) is remembered, least recently asked dropped first."""
VISIBILITY_TTL_S = 3600.0
"""How long a channel's visibility is trusted: a public channel can be made private."""
SIGNATURE_MAX_AGE_S = 5 * 60
"""Slack's rule (and Bolt's): a request signed longer ago than this may be a replay."""
MAX_EVENT_BODY_BYTES = 1024 * 1024
"""The biggest `/slack/events` body taken; anything larger is refused before it is parsed.

Slack's own limits keep real payloads far below this: a message's text is cut at
40,000 characters, and an event carries it twice at most (`text` and its
`rich_text` block), JSON-escaped (6 bytes per Korean character as \\uXXXX):
about 480 KB. A slash command's text is far shorter, and a modal's submission is
bounded by its view (at most 100 blocks, `private_metadata` up to 3,000
characters; ours has two inputs). 1 MiB leaves room for that with headroom,
and an unsigned caller can make us hold no more than it.
"""


class SlackConfigError(RuntimeError):
    """Slack is enabled but a required credential is missing."""


class SlackAdapter(Adapter):
    """Slack over Bolt. `async with adapter: await adapter.run()`."""

    platform = translate.PLATFORM

    def __init__(self, teambot: BotCore, *, web_app: web.Application | None, client: AsyncWebClient | None = None,
                 dedupe_ttl_s: int = 24 * 3600, update_interval_s: float = 1.0,
                 download_timeout_s: float = 60.0, native_streaming: bool = True) -> None:
        settings = teambot.settings
        if settings.slack_bot_token is None:
            raise SlackConfigError("SLACK_BOT_TOKEN is not set")
        self.teambot = teambot
        self.settings = settings
        self.socket_mode = settings.slack_app_token is not None
        if not self.socket_mode and settings.slack_signing_secret is None:
            raise SlackConfigError("SLACK_SIGNING_SECRET is required in HTTP mode (or set SLACK_APP_TOKEN)")
        api_url = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
        self.client = client or AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=api_url,
            # Honour 429 Retry-After on every Web API call, on top of the default reconnects.
            retry_handlers=[AsyncConnectionErrorRetryHandler(), AsyncRateLimitErrorRetryHandler(max_retry_count=3)],
        )
        # Only Slack's own origins (and the configured API's) get the bot token or a response_url post.
        self._download_origins = Origins([SLACK_FILES_ORIGIN, api_url])
        self._response_origins = Origins([SLACK_RESPONSE_ORIGIN, api_url])
        self._dedupe_ttl_s = dedupe_ttl_s
        self._update_interval_s = update_interval_s
        self._download_timeout_s = download_timeout_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._native_streaming = native_streaming
        self._streaming = StreamingAvailability()
        self._answering: set[SlackReplyStream] = set()
        """Answers being written, so a Stop click finds its own."""
        self._visibility: OrderedDict[tuple[str, str], tuple[float, Visibility]] = OrderedDict()
        self._session: aiohttp.ClientSession | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._team_id: str | None = None
        self.app = AsyncApp(
            client=self.client,
            signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else "",
            # Socket Mode envelopes are not signed; HTTP requests always are checked.
            request_verification_enabled=not self.socket_mode,
            logger=logging.getLogger("teambot.slack.bolt"),
        )
        self.registration: Registration = register(self.app, handlers=self, commands=CommandNames(
            ask=settings.slack_ask_command, upload=settings.slack_upload_command, kb=settings.slack_kb_command,
            stats=STATS_COMMAND,
        ))
        self.app.middleware(self._skip_replayed_interactions)
        if not self.socket_mode and web_app is not None:
            # Routes must be added now: the shared app is frozen once the server starts.
            web_app.router.add_post(EVENTS_PATH, self.handle_http)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._download_timeout_s))
        if self.socket_mode:
            assert self.settings.slack_app_token is not None
            self._socket = AsyncSocketModeHandler(self.app, self.settings.slack_app_token.get_secret_value())
            await self._socket.connect_async()

    async def run(self) -> None:
        """Serve until cancelled (HTTP requests arrive through the shared web app)."""
        await asyncio.Event().wait()

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        # Let answers in flight finish briefly, so no placeholder is left behind.
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def handle_http(self, request: web.Request) -> web.Response:
        """`POST /slack/events`: size, signature and shape checked here, then Bolt dispatches.

        Bolt parses the body before it checks the signature, so nothing reaches it
        unchecked: too big is 413, unsigned or stale 401, unparseable 400, each one line.
        """
        try:
            raw = await read_body(request, limit=MAX_EVENT_BODY_BYTES)
        except BodyTooLarge:
            return _refusal(413, f"the body is over {MAX_EVENT_BODY_BYTES:,} bytes; no Slack payload is that big")
        if not self._signed_by_slack(raw, request.headers):
            return _refusal(401, "the request is not signed by Slack (bad, missing or stale signature)")
        headers: dict[str, str | Sequence[str]] = {name: request.headers.getall(name) for name in request.headers}
        try:
            bolt_request = AsyncBoltRequest(body=raw.decode("utf-8"), query=request.query_string, headers=headers)
        except (ValueError, RecursionError, AttributeError, TypeError):
            # Invalid UTF-8 or JSON (ValueErrors), JSON nested past the recursion limit, or JSON that is
            # no object (Bolt's context builder calls `.get` on it): none of it comes from Slack.
            return _refusal(400, "the body is not a Slack payload (JSON or form data)")
        bolt_response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    def _signed_by_slack(self, raw: bytes, headers: Any) -> bool:
        """Slack's v0 signature over the raw bytes, made within the last 5 minutes."""
        timestamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature", "")
        # slack_sdk would raise on a non-numeric timestamp (int()) or a non-ASCII signature (compare_digest).
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12 and signature.isascii()):
            return False
        if abs(time.time() - int(timestamp)) > SIGNATURE_MAX_AGE_S:
            return False
        assert self.settings.slack_signing_secret is not None  # required in HTTP mode (__init__)
        # Over the raw bytes: slack_sdk's verifier decodes the body first, and raises on invalid UTF-8.
        expected = "v0=" + hmac.new(self.settings.slack_signing_secret.get_secret_value().encode(),
                                    b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)

    def spawn(self, work: Awaitable[None], *, name: str) -> None:
        """Run `work` after the ack, tracked so `stop()` and `idle()` can wait for it."""

        async def guarded() -> None:
            try:
                await work
            except Exception:  # a background failure must be logged, not lost
                log.exception("slack work failed", extra={"task": name})

        task = asyncio.create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until no background work is running (used by tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- Redis bookkeeping ------------------------------------------------------------------

    async def _claim(self, key: str) -> bool:
        """True the first time `key` is claimed within the TTL (see `bot.claims` for Redis failures)."""
        return await self.teambot.claims.claim(translate.PLATFORM, key, ttl_s=self._dedupe_ttl_s)

    async def _skip_replayed_interactions(self, body: dict[str, Any],
                                          next: Callable[[], Awaitable[None]]) -> BoltResponse | None:
        """Bolt middleware: a slash command or interaction runs once per `trigger_id`.

        Slack gives every command invocation, button click and modal submission its own
        `trigger_id`; the same one again is a replay (a resent signed request, or a Socket
        Mode redelivery), acknowledged without running anything, as events are by event id.
        This runs after Bolt's signature check, so unsigned requests claim nothing.
        """
        trigger_id = body.get("trigger_id")
        if isinstance(trigger_id, str) and trigger_id:
            team = body.get("team")  # {"id": ...} in interactions; slash commands have `team_id`
            team_id = team.get("id") if isinstance(team, dict) else body.get("team_id")
            if not await self._claim(f"trigger:{team_id}:{trigger_id}"):
                log.info("replayed Slack interaction ignored")
                return BoltResponse(status=200, body="")
        await next()
        return None

    @staticmethod
    def _thread_key(message: IncomingMessage) -> str:
        return f"{message.workspace}:{message.channel}:{message.thread}"

    async def _remember_thread(self, message: IncomingMessage) -> None:
        await self.teambot.claims.remember_thread(translate.PLATFORM, self._thread_key(message),
                                                  ttl_s=self.settings.history_ttl_s)

    async def _bot_in_thread(self, message: IncomingMessage) -> bool:
        return await self.teambot.claims.owns_thread(translate.PLATFORM, self._thread_key(message))

    # --- events ---------------------------------------------------------------------------

    async def on_event(self, *, body: dict[str, Any], bot_user_id: str | None) -> None:
        """An `app_mention` or `message` event: answer it, ingest its files, or ignore it."""
        event_id = body.get("event_id")
        if event_id and not await self._claim(f"event:{event_id}"):
            return  # a retry or a redelivery of an event already handled
        event = body.get("event") or {}
        route = translate.route_event(event, bot_user_id=bot_user_id)
        if route == "ignore":
            return
        message = translate.message_from_event(body, bot_user_id=bot_user_id)
        if route == "maybe_follow_up" and not (
            self.settings.slack_follow_up_without_mention and await self._bot_in_thread(message)
        ):
            return
        # A mention in a thread also arrives as a `message` event with another event id.
        if not await self._claim(f"message:{message.workspace}:{message.channel}:{event.get('ts')}"):
            return
        if message.attachments:
            await self._ingest_message_files(message, files=event.get("files") or [])
            if not message.text or "?" not in message.text:
                return  # the files were the point; a question comes with a question mark
        if not message.text:
            await self._post(channel=message.channel, thread_ts=message.thread,
                             text="Ask me a question about this channel's documents, or attach files to add them.")
            return
        if event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
            # Asked inside a thread: what people said there is context (adapters/slack/threads.py).
            said = await self._read_thread(message.channel, message.thread, bot_user_id=bot_user_id,
                                           before_ts=str(event.get("ts") or "") or None)
            message = replace(message, thread_messages=said)
        await self._remember_thread(message)
        summary = bool(message.thread_messages) and asks_for_summary(message.text)
        await self.answer(message, self._reply_stream(message), summary=summary)

    def _reply_stream(self, message: IncomingMessage) -> SlackReplyStream:
        """The stream for an answer in `message`'s thread: Slack's text stream where it may be allowed."""
        native = None
        if self._native_streaming and message.user and self._streaming.allows(message.workspace, message.channel):
            native = NativeStreaming(workspace=message.workspace, user=message.user, in_dm=message.is_dm,
                                     availability=self._streaming)
        return SlackReplyStream(client=self.client, channel=message.channel, thread_ts=message.thread,
                                asker=message.user or None, native=native, min_interval_s=self._update_interval_s)

    async def channel_visibility(self, message: IncomingMessage) -> Visibility:
        """Who can read the message's channel: from the payload when it says, else `conversations.info`
        (`is_private`; needs channels:read and groups:read), remembered for a while. `unknown` on failure:
        the usage reports then only count the channel's questions."""
        if message.is_dm or message.visibility != "unknown":
            return "private" if message.is_dm else message.visibility
        key = (message.workspace, message.channel)
        cached = self._visibility.get(key)
        if cached is not None and time.monotonic() - cached[0] < VISIBILITY_TTL_S:
            self._visibility.move_to_end(key)
            return cached[1]
        visibility: Visibility = "unknown"
        try:
            info = (await self.client.conversations_info(channel=message.channel)).get("channel") or {}
            if info.get("is_private") or info.get("is_im") or info.get("is_mpim"):
                visibility = "private"
            elif info.get("is_private") is False:
                visibility = "public"
        except SlackApiError as exc:
            # Slack's answer (missing_scope, channel_not_found) won't change soon: remember it, don't ask again.
            log.info("channel visibility unknown", extra={"error": exc.response.get("error")})
        except Exception as exc:  # noqa: BLE001 - a usage label must never stop an answer; ask again next time
            log.info("channel visibility unknown", extra={"error": type(exc).__name__})
            return "unknown"
        self._visibility[key] = (time.monotonic(), visibility)
        self._visibility.move_to_end(key)
        while len(self._visibility) > VISIBILITY_CACHE_SIZE:
            self._visibility.popitem(last=False)
        return visibility

    async def answer(self, message: IncomingMessage, stream: SlackReplyStream, *, summary: bool = False) -> None:
        """Run the dispatcher (`summary`: summarize the message's thread instead); whatever fails, the working
        state ends with a message."""
        self._answering.add(stream)
        try:
            message = replace(message, visibility=await self.channel_visibility(message))
            if summary:
                await self.teambot.commands.summarize_thread(message, stream)
            else:
                await self.teambot.commands.ask(message, stream)
        except Exception as exc:  # never leave a placeholder hanging
            log.exception("answer failed")
            if not stream.finished:
                await stream.fail(f"Sorry, I couldn't answer: something went wrong ({type(exc).__name__}).")
        finally:
            self._answering.discard(stream)

    # --- threads: context, "Summarize this thread", "Save to knowledge" --------------------------

    async def _read_thread(self, channel: str, thread_ts: str, *, bot_user_id: str | None,
                           before_ts: str | None = None) -> tuple[ThreadMessage, ...]:
        """The thread's messages (adapters/slack/threads.py), or none when Slack would not say in time."""
        said, _ = await self._read_thread_or_why(channel, thread_ts, bot_user_id=bot_user_id, before_ts=before_ts)
        return said

    async def _read_thread_or_why(self, channel: str, thread_ts: str, *, bot_user_id: str | None,
                                  before_ts: str | None = None) -> tuple[tuple[ThreadMessage, ...], str | None]:
        """The thread's messages, and when Slack refused them, its error code (`not_in_channel`, ...)."""
        try:
            async with asyncio.timeout(threads.READ_TIMEOUT_S):
                return await threads.read_thread(self.client, channel=channel, thread_ts=thread_ts,
                                                 bot_user_id=bot_user_id, before_ts=before_ts), None
        except SlackApiError as exc:  # missing_scope, not_in_channel, ratelimited past the retries...
            error = exc.response.get("error")
            log.warning("could not read the thread", extra={"error": error})
            return (), str(error) if error else None
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("could not read the thread", extra={"error": type(exc).__name__})
        return (), None

    async def on_message_shortcut(self, *, body: dict[str, Any], bot_user_id: str | None) -> None:
        """A message shortcut: "Summarize this thread" answers in the thread, "Save to knowledge" stores it."""
        shortcut = threads.shortcut_from(body)
        if shortcut is None:
            return
        if shortcut.callback_id == threads.SAVE_CALLBACK_ID:
            await self._save_thread(shortcut, bot_user_id=bot_user_id)
        elif shortcut.callback_id == threads.SUMMARIZE_CALLBACK_ID:
            said, error = await self._read_thread_or_why(shortcut.channel, shortcut.thread_ts,
                                                         bot_user_id=bot_user_id)
            if not said:
                why = threads.unreadable_reason(error, shortcut=shortcut)
                await self._tell_shortcut_user(shortcut, f"I can't summarize this thread: {why}." if why
                                               else "I couldn't read anything to summarize in this thread.")
                return
            message = shortcut.message(said)
            await self.answer(message, self._reply_stream(message), summary=True)

    async def _save_thread(self, shortcut: threads.MessageShortcut, *, bot_user_id: str | None) -> None:
        message = shortcut.message()
        refusal = self.teambot.commands.upload_refusal(scope=upload_scope(message), actor=message.actor)
        if refusal is not None:  # refused before the thread is even read
            await self._tell_shortcut_user(shortcut, f"Can't save this thread: {escape(refusal)}.")
            return
        said, error = await self._read_thread_or_why(shortcut.channel, shortcut.thread_ts, bot_user_id=bot_user_id)
        if not said:
            why = threads.unreadable_reason(error, shortcut=shortcut)
            await self._tell_shortcut_user(shortcut, f"Nothing was saved: {why}." if why
                                           else "I couldn't read this thread from Slack, so nothing was saved.")
            return
        permalink: str | None = None
        try:
            permalink = (await self.client.chat_getPermalink(channel=shortcut.channel,
                                                             message_ts=shortcut.thread_ts)).get("permalink")
        except SlackApiError as exc:  # saved without its link rather than not at all
            log.warning("no permalink for the thread", extra={"error": exc.response.get("error")})
        outcome = await self.teambot.commands.save_thread(replace(message, thread_messages=said),
                                                          permalink=permalink, place=shortcut.place)
        where = "the whole workspace's" if upload_scope(message).channel == "*" else "this channel's"
        await self._tell_shortcut_user(shortcut, f"Saved to {where} knowledge:\n{outcome.line(escape)}"
                                       if outcome.result else f"Could not save this thread:\n{outcome.line(escape)}")

    async def _tell_shortcut_user(self, shortcut: threads.MessageShortcut, text: str) -> None:
        """Tell whoever used `shortcut`, and only them: `chat.postEphemeral`, or where the bot may not post (a
        channel it is not in) the shortcut's `response_url`, which Slack takes wherever the shortcut was used."""
        try:
            await self.client.chat_postEphemeral(channel=shortcut.channel, user=shortcut.user, text=text)
            return
        except SlackApiError as exc:
            error = exc.response.get("error")
        url = shortcut.response_url
        if url is not None and self._response_origins.allows(url):
            try:
                sent = await AsyncWebhookClient(url, timeout=10).send(text=text, response_type="ephemeral")
                if sent.status_code == 200:
                    return
                error = f"{error}, then {sent.status_code} {sent.body}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"{error}, then {type(exc).__name__}"
        log.warning("could not tell the shortcut's user: %s", error)

    # --- files ------------------------------------------------------------------------------

    async def _ingest_message_files(self, message: IncomingMessage, *, files: list[dict[str, Any]]) -> None:
        outcomes = await self.ingest_files(
            attachments=message.attachments, file_ids=translate.file_ids_of(files),
            scope=upload_scope(message), uploader=message.user, note="",
        )
        await self._post(channel=message.channel, thread_ts=message.thread,
                         text=f"Files for this channel's knowledge:\n{outcomes_text(outcomes, escape)}")

    async def ingest_files(self, *, attachments: tuple[Attachment, ...], file_ids: dict[str, str], scope: Scope,
                           uploader: str, note: str) -> list[FileOutcome]:
        """Download each file with the bot token, ingest the good ones, report each in order.

        A user who may not upload here is refused before anything is looked up or downloaded.
        """
        async def fetch() -> list[Attachment | FileOutcome]:
            return [await self._download(attachment, file_id=file_ids.get(attachment.name))
                    for attachment in attachments]

        outcomes: list[FileOutcome] = await self.teambot.commands.upload(
            names=[a.name for a in attachments], fetch=fetch, scope=scope, uploader=uploader,
            actor=Actor(translate.PLATFORM, uploader), note=note,
        )
        return outcomes

    async def _download(self, attachment: Attachment, *, file_id: str | None) -> Attachment | FileOutcome:
        limit = self.settings.max_upload_bytes
        if attachment.url is None and file_id:
            # Some events carry only a file stub; files.info has the download URL.
            try:
                info = (await self.client.files_info(file=file_id))["file"]
                attachment = translate.attachments_of([info])[0]
            except (SlackApiError, IndexError, KeyError):
                return FileOutcome(attachment.name, error="Slack did not give me access to this file")
        if attachment.size is not None and attachment.size > limit:
            return FileOutcome(attachment.name, error=f"too large ({attachment.size / 1048576:.1f} MB; "
                                                      f"the limit is {self.settings.max_upload_mb:g} MB)")
        if attachment.url is None or not self._download_origins.allows(attachment.url):
            return FileOutcome(attachment.name, error="the file has no download link from Slack")
        assert self._session is not None, "start() the adapter first"
        token = self.settings.slack_bot_token.get_secret_value()
        try:
            async with self._session.get(attachment.url, headers={"Authorization": f"Bearer {token}"}) as response:
                if response.status != 200:
                    return FileOutcome(attachment.name, error=f"the download failed (HTTP {response.status})")
                if response.content_type == "text/html" and not attachment.name.lower().endswith((".html", ".htm")):
                    # Slack answers a missing files:read scope with its login page, not an error.
                    return FileOutcome(attachment.name, error="Slack refused the download (is files:read granted?)")
                data = await response.content.read(limit + 1)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return FileOutcome(attachment.name, error=f"the download failed ({type(exc).__name__})")
        if len(data) > limit:
            return FileOutcome(attachment.name, error=f"too large (the limit is {self.settings.max_upload_mb:g} MB)")
        return replace(attachment, data=data, size=len(data))

    # --- slash commands -----------------------------------------------------------------------

    async def on_ask(self, *, command: dict[str, Any]) -> None:
        """`/ask QUESTION`: answer in the channel; the answer's thread continues the conversation."""
        question = (command.get("text") or "").strip()
        channel, user = str(command["channel_id"]), str(command.get("user_id") or "")
        if not question:
            await self._ephemeral(channel=channel, user=user,
                                  text=f"Usage: {self.settings.slack_ask_command} QUESTION")
            return
        # Decoded first: Slack may have escaped the command's text already, and it must not show twice-escaped.
        heading = f"<@{user}> asked: {escape(unescape(question))}"
        stream = SlackReplyStream(client=self.client, channel=channel, thread_ts=None, heading=heading,
                                  asker=user or None, min_interval_s=self._update_interval_s)
        try:
            await stream.working()
        except SlackApiError as exc:
            await self._ephemeral(channel=channel, user=user, text=_post_failure(exc))
            return
        assert stream.ts is not None
        message = translate.message_from_command(command, thread=stream.ts)
        await self._remember_thread(message)
        await self.answer(message, stream)

    async def on_upload_command(self, *, command: dict[str, Any]) -> None:
        """`/upload`: open the modal; the target channel rides along in `private_metadata`."""
        target = translate.upload_target_from_command(command)
        refusal = self.teambot.commands.upload_refusal(scope=target.scope,
                                                       actor=Actor(translate.PLATFORM, target.user))
        if refusal is not None:
            await self._ephemeral(channel=target.channel, user=target.user, text=f"Can't upload: {escape(refusal)}.")
            return
        await self.client.views_open(trigger_id=command["trigger_id"], view=upload_modal(target))

    async def on_upload_submission(self, *, body: dict[str, Any]) -> None:
        submission = translate.upload_submission(body)
        target = submission.target
        outcomes = await self.ingest_files(
            attachments=submission.files, file_ids=submission.file_ids,
            scope=target.scope, uploader=submission.user, note=submission.note,
        )
        where = "the whole workspace's" if target.workspace_wide else "this channel's"
        text = f"<@{submission.user}> uploaded to {where} knowledge:\n{outcomes_text(outcomes, escape)}"
        if not await self._post(channel=target.channel, thread_ts=None, text=text):
            await self._ephemeral(channel=target.channel, user=submission.user, text=text)

    async def on_kb(self, *, command: dict[str, Any]) -> None:
        """`/kb` lists the channel's documents; `/kb delete NAME-OR-ID` deletes one."""
        channel, user = str(command["channel_id"]), str(command.get("user_id") or "")
        message = translate.message_from_command(command, thread="kb")
        # Decoded first: Slack sends the command's text with `&`, `<`, `>` escaped, and names are matched raw.
        result = await self.teambot.commands.documents(message, unescape(command.get("text") or ""),
                                                       command=self.settings.slack_kb_command)
        text = result.text(escape)
        await self._ephemeral(channel=channel, user=user, text=text)

    async def on_stats(self, *, command: dict[str, Any]) -> None:
        """`/stats [day|week|month]`: the usage figures its asker may see, shown to them only."""
        message = translate.message_from_command(command, thread="stats")
        answer = await self.teambot.commands.stats(message, message.text)
        text = await asyncio.to_thread(to_mrkdwn, answer.markdown)  # a whole report: off the event loop
        await self._ephemeral(channel=message.channel, user=message.user, text=text)

    # --- usage reports (bot.core.ports.ReportDestination) ----------------------------------------

    async def channel_workspace(self, channel: str) -> str:
        """The bot token's workspace (asked once): a report channel is one of its channels."""
        if self._team_id is None:
            self._team_id = await reports.bot_workspace(self.client)
        return self._team_id

    async def post_report(self, *, channel: str, report: Report) -> None:
        """Share the chart in `channel` with the report as its message (SlackApiError on failure)."""
        await reports.upload_report(self.client, channel=channel, report=report)

    # --- feedback -------------------------------------------------------------------------------

    async def on_feedback(self, *, body: dict[str, Any]) -> None:
        """A 👍/👎 on an answer: counted once per person, stored with the answer; a 👎 is asked what was wrong."""
        feedback = translate.feedback_from_action(body)
        if feedback is None:
            return
        # One vote per person per answer, however often they click.
        if not await self._claim(f"feedback:{feedback.channel}:{feedback.message_ts}:{feedback.user}"):
            return
        link = await self._permalink(channel=feedback.channel, ts=feedback.message_ts) if feedback.answer_id else None
        vote = await self.teambot.commands.record_feedback(
            platform=translate.PLATFORM, helpful=feedback.helpful, workspace=translate.workspace_of(body),
            user=feedback.user, answer_id=feedback.answer_id, link=link)
        if vote is None or vote.helpful:  # only counted (an answer not kept), or a 👍: nothing to ask
            await self._ephemeral(channel=feedback.channel, user=feedback.user, text=THANKS)
            return
        try:  # the reason is optional: the offer is an ephemeral message with one button per reason
            await self.client.chat_postEphemeral(
                channel=feedback.channel, user=feedback.user, text=REASON_PROMPT,
                blocks=reason_blocks(REASON_PROMPT, REASON_CHOICES, answer_id=vote.answer.answer_id))
        except SlackApiError as exc:
            log.warning("could not ask what was wrong: %s", exc.response.get("error"))

    async def on_feedback_reason(self, *, body: dict[str, Any]) -> None:
        """The reason a 👎 voter picked: stored with their vote; the offer is replaced by a thanks."""
        choice = translate.reason_from_action(body)
        if choice is None or not is_reason(choice.reason):
            return
        vote = await self.teambot.commands.feedback_reason(
            platform=translate.PLATFORM, workspace=translate.workspace_of(body), user=choice.user,
            answer_id=choice.answer_id, reason=choice.reason)
        text = reason_thanks(choice.reason, stored=vote is not None)
        if choice.response_url is not None and self._response_origins.allows(choice.response_url):
            try:
                await AsyncWebhookClient(choice.response_url).send(text=text, replace_original=True)
                return
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("could not replace the reason choice: %s", type(exc).__name__)
        await self._ephemeral(channel=choice.channel, user=choice.user, text=text)

    async def _permalink(self, *, channel: str, ts: str) -> str | None:
        """The link to a message (`chat.getPermalink`), or None when Slack would not tell."""
        try:
            response = await self.client.chat_getPermalink(channel=channel, message_ts=ts)
        except SlackApiError as exc:
            log.info("no permalink for a rated answer: %s", exc.response.get("error"))
            return None
        permalink = response.get("permalink")
        return permalink if isinstance(permalink, str) else None

    async def on_stop(self, *, body: dict[str, Any]) -> None:
        """Stop on an answer being written: only its asker may stop it."""
        stop = translate.stop_from_action(body)
        if stop is None:
            return
        stream = next((s for s in self._answering if (s.channel, s.ts) == (stop.channel, stop.message_ts)), None)
        if stream is None or stream.finished:
            return  # already done: the final message has no Stop button any more
        if stream.asker is not None and stream.asker != stop.user:
            await self._ephemeral(channel=stop.channel, user=stop.user,
                                  text=f"Only <@{stream.asker}> can stop this answer.")
            return
        stream.request_stop(by=stop.user)

    # --- the agent view ---------------------------------------------------------------------------

    async def on_assistant_thread(self, *, body: dict[str, Any],
                                  set_suggested_prompts: AsyncSetSuggestedPrompts) -> None:
        """A conversation opened in the agent view (or the channel beside it changed): suggest prompts from
        what its user may see (the command service decides which; nothing when there is nothing)."""
        event_id = body.get("event_id")
        if event_id and not await self._claim(f"event:{event_id}"):
            return
        thread = translate.assistant_thread_of(body)
        if thread is None:
            return
        prompts = await self.teambot.commands.suggested_prompts(thread.place, viewing=thread.viewing)
        if not prompts:
            return
        try:
            await set_suggested_prompts(prompts=[prompt.as_json() for prompt in prompts], title=PROMPTS_HEADING)
        except SlackApiError as exc:
            log.warning("could not set suggested prompts: %s", exc.response.get("error"))

    async def on_assistant_message(self, *, body: dict[str, Any], bot_user_id: str | None,
                                   set_title: AsyncSetTitle) -> None:
        """A user's message in an agent-view thread: its first question titles the thread; it is answered
        like any other DM."""
        event = body.get("event") or {}
        if translate.route_event(event, bot_user_id=bot_user_id) == "dm" and event.get("thread_ts"):
            message = translate.message_from_event(body, bot_user_id=bot_user_id)
            title = thread_title(unescape(message.text))  # a title is plain text: `&amp;` would show as typed
            # Once per thread, for as long as its history is kept: a later question leaves the title alone.
            first = await self.teambot.claims.claim(
                translate.PLATFORM, f"title:{message.workspace}:{message.channel}:{message.thread}",
                ttl_s=self.settings.history_ttl_s)
            if title and first:
                try:
                    await set_title(title)
                except SlackApiError as exc:
                    log.warning("could not title the thread: %s", exc.response.get("error"))
        await self.on_event(body=body, bot_user_id=bot_user_id)

    # --- posting helpers --------------------------------------------------------------------------

    async def _post(self, *, channel: str, thread_ts: str | None, text: str) -> bool:
        try:
            await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
            return True
        except SlackApiError as exc:
            log.warning("could not post: %s", exc.response.get("error"))
            return False

    async def _ephemeral(self, *, channel: str, user: str, text: str) -> None:
        try:
            await self.client.chat_postEphemeral(channel=channel, user=user, text=text)
        except SlackApiError as exc:
            log.warning("could not post an ephemeral message: %s", exc.response.get("error"))


def _refusal(status: int, reason: str) -> web.Response:
    """A refused `/slack/events` request: the status and a one-line JSON reason."""
    return web.json_response({"error": reason}, status=status)


def _post_failure(exc: SlackApiError) -> str:
    error = exc.response.get("error")
    if error in ("not_in_channel", "channel_not_found"):
        return "I can't post in this channel yet: invite me first (`/invite @teambot`)."
    return f"I couldn't post here (Slack said: {error})."


def upload_modal(target: translate.UploadTarget) -> dict[str, Any]:
    """The `/upload` modal: a file input and an optional note."""
    return {
        "type": "modal",
        "callback_id": translate.UPLOAD_CALLBACK_ID,
        "private_metadata": target.to_metadata(),
        "title": {"type": "plain_text", "text": "Add documents"},
        "submit": {"type": "plain_text", "text": "Upload"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "input", "block_id": translate.UPLOAD_FILES_BLOCK,
             "label": {"type": "plain_text", "text": "Files"},
             "element": {"type": "file_input", "action_id": "files", "max_files": 10}},
            {"type": "input", "block_id": translate.UPLOAD_NOTE_BLOCK, "optional": True,
             "label": {"type": "plain_text", "text": "Note (optional)"},
             "element": {"type": "plain_text_input", "action_id": "note", "multiline": True}},
        ],
    }


def create_adapter(teambot: BotCore, *, web_app: web.Application | None) -> SlackAdapter:
    """Build the Slack adapter for `teambot serve` (routes are added to `web_app` in HTTP mode)."""
    return SlackAdapter(teambot, web_app=web_app)
