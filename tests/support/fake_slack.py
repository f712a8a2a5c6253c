"""A loopback fake of the Slack Web API (and the Socket Mode websocket), recording every call.

Point the bot's `SLACK_API_URL` at `api_url`. Behaviour is set per test:
files it serves (`add_file`), methods answering 429 (`rate_limit`) or an
error (`errors`). `wait_for` polls the recorded calls.

Channels the bot is not a member of (`not_joined`) refuse it as Slack does: reading and posting there answer
`not_in_channel` (public) or `channel_not_found` (private). A `response_url` (`response_url(name)`) takes
JSON messages as Slack's do, anywhere: `text` or `blocks` required (`no_text`), five uses (`used_url`).

Threads (`add_thread`) are read with `conversations.replies` as Slack serves them: oldest first, the root
included, `latest`/`oldest`/`inclusive` bounds, `limit` pages with a `next_cursor`; the bot's own replies
join them. `chat.getPermalink` links any message.

Messages are checked as Slack checks them: Block Kit limits (`invalid_blocks`), and the text
stream's rules (`chat.startStream` needs a thread and, outside DMs, its recipient; a stream Slack
closed answers `message_not_in_streaming_state`; a message still streaming cannot be edited).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from tests.support.loopback import serve_on_loopback

STOP_ACTION = "teambot_stop"
BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"
BOT_USER_ID = "UBOT"
TEAM_ID = "T1"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def ts(self) -> str:
        """The ts Slack gave the posted message."""
        return str(self.result.get("ts"))


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    file_bodies: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    downloads: list[dict[str, Any]] = field(default_factory=list)
    rate_limit: dict[str, int] = field(default_factory=dict)
    """Method -> how many more calls answer 429 (Retry-After: 1)."""
    errors: dict[str, str] = field(default_factory=dict)
    """Method -> Slack error code to answer with (`ok: false`)."""
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Channel id -> the channel object `conversations.info` answers (otherwise `channel_not_found`)."""
    not_joined: dict[str, str] = field(default_factory=dict)
    """Channel id -> what Slack answers the bot there, not being a member: `not_in_channel` (a public channel)
    or `channel_not_found` (a private one), for every method that reads or posts messages."""
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    streams: dict[str, Stream] = field(default_factory=dict)
    """Message ts -> the text stream that wrote it."""
    threads: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    """(channel, root ts) -> the thread's messages, root first (`add_thread`)."""
    stream_appends_allowed: int | None = None
    """Appends a stream takes before Slack closes it (as it does after a few minutes); None: no limit."""
    port: int = 0
    _runner: web.AppRunner | None = None
    _ts: Any = field(default_factory=lambda: count(1))
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    async def __aenter__(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack_sdk reads some methods (files.info) with GET
        app.router.add_get("/files/{id}/{name}", self._download)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/actions/{tail:.*}", self._response_url)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- test helpers -------------------------------------------------------------------

    def add_file(self, file_id: str, name: str, data: bytes, *, mimetype: str = "text/plain",
                 content_type: str | None = None) -> dict[str, Any]:
        """Serve a file and return its Slack file object (as events and views carry it)."""
        self.file_bodies[file_id] = (data, content_type or mimetype)
        info = {"id": file_id, "name": name, "title": name, "mimetype": mimetype, "size": len(data),
                "url_private": f"{self.base_url}/files/{file_id}/{name}",
                "url_private_download": f"{self.base_url}/files/{file_id}/{name}",
                "permalink": f"https://example.slack.com/files/U1/{file_id}/{name}"}
        self.files[file_id] = info
        return info

    def response_url(self, name: str) -> str:
        """A `response_url` as interactions carry it, served here: what is posted to it is recorded as a
        `response_url` call (its JSON as params)."""
        return f"{self.base_url}/actions/{name}"

    async def _response_url(self, request: web.Request) -> web.Response:
        """A message posted to a `response_url`, answered as Slack answers: `ok`, or a 4xx with the error's name."""
        try:
            message = json.loads(await request.read())
        except ValueError:
            message = None
        used = sum(1 for c in self.calls if c.method == "response_url" and c.params.get("_path") == request.path
                   and c.status == 200)
        if not isinstance(message, dict):
            status, error, message = 400, "invalid_payload", {}
        elif not (message.get("text") or message.get("blocks")):
            status, error = 400, "no_text"
        elif used >= RESPONSE_URL_USES:
            status, error = 404, "used_url"
        else:
            status, error = 200, None
        self.calls.append(Call("response_url", {**message, "_path": request.path}, time.monotonic(), status=status,
                               result={"ok": error is None, **({"error": error} if error else {})}))
        return web.Response(text=error or "ok", status=status)

    def add_thread(self, channel: str, messages: list[dict[str, Any]]) -> str:
        """A thread of `messages` (each at least `user` and `text`, optionally `ts`; the first is the root) in
        `channel`, as people wrote it before the bot was asked; returns the root's ts."""
        base = 1699990000
        root_ts = str(messages[0].get("ts") or f"{base}.000100")
        thread = []
        for index, message in enumerate(messages):
            ts = str(message.get("ts") or f"{base + 60 * index}.000100")
            thread.append({"type": "message", **message, "ts": ts, "thread_ts": root_ts})
        thread[0]["reply_count"] = len(thread) - 1
        self.threads[(channel, root_ts)] = thread
        return root_ts

    def of(self, method: str) -> list[Call]:
        """Successful calls of `method`, in order."""
        return [c for c in self.calls if c.method == method and c.status == 200]

    async def wait_for(self, predicate: Callable[[], Any], *, timeout: float = 10.0) -> Any:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out; calls so far: {[(c.method, c.params) for c in self.calls]}")

    def messages(self) -> list[Call]:
        """Successful calls that created a message (`chat.postMessage`, `chat.startStream`), in order."""
        return [c for c in self.calls if c.method in ("chat.postMessage", "chat.startStream")
                and c.status == 200 and c.result.get("ok")]

    def final_update(self, ts: str) -> Call | None:
        """The last `chat.update` of message `ts` that carries the finished answer's blocks (no Stop button)."""
        updates = [c for c in self.of("chat.update") if c.params.get("ts") == ts and c.params.get("blocks")
                   and not _has_action(c.params["blocks"], STOP_ACTION) and c.result.get("ok")]
        return updates[-1] if updates else None

    def expire_stream(self, ts: str) -> None:
        """Slack closes a stream by itself (a few minutes after it started): later calls are refused."""
        self.streams[ts].state = "expired"

    async def send_envelope(self, envelope: dict[str, Any]) -> None:
        """Push a Socket Mode envelope to every connected client."""
        for ws in self._sockets:
            await ws.send_json(envelope)

    # --- handlers -------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.read()
        if request.method == "GET":
            params = dict(request.query)
        elif request.content_type == "application/json":
            params: dict[str, Any] = json.loads(raw or b"{}")
        else:
            # Like Slack: arguments in the query string count too (slack_sdk sends some methods' there).
            params = {**dict(request.query), **dict(parse_qsl(raw.decode()))}
            for key in ("blocks", "view"):
                if isinstance(params.get(key), str):
                    params[key] = json.loads(params[key])
        params["_auth"] = request.headers.get("Authorization", "")
        if self.rate_limit.get(method, 0) > 0:
            self.rate_limit[method] -= 1
            self.calls.append(Call(method, params, time.monotonic(), status=429))
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": "1"})
        call = Call(method, params, time.monotonic())
        self.calls.append(call)
        if method in self.errors:
            call.result = {"ok": False, "error": self.errors[method]}
        elif method in MEMBER_METHODS and str(params.get("channel")) in self.not_joined:
            call.result = {"ok": False, "error": self.not_joined[str(params["channel"])]}
        else:
            call.result = self._answer(method, params)
        return web.json_response(call.result)

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "teambot",
                    "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": "BBOT"}
        if method == "chat.postMessage":
            ts = f"1700000{next(self._ts):03d}.000100"
            self._join_thread(params, ts, text=str(params.get("text") or ""))
            return {"ok": True, "channel": params.get("channel"), "ts": ts,
                    "message": {"text": params.get("text"), "ts": ts, "bot_id": "BBOT"}}
        if method in ("chat.postMessage", "chat.update", "chat.stopStream") and _invalid_blocks(params.get("blocks")):
            return {"ok": False, "error": "invalid_blocks"}
        if method == "chat.update":
            stream = self.streams.get(str(params.get("ts")))
            if stream is not None and stream.state == "streaming":
                return {"ok": False, "error": "streaming_state_conflict"}
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts"), "text": params.get("text")}
        if method == "chat.startStream":
            return self._start_stream(params)
        if method in ("chat.appendStream", "chat.stopStream"):
            return self._continue_stream(method, params)
        if method == "assistant.threads.setStatus":
            if not (params.get("channel_id") and params.get("thread_ts") and "status" in params):
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True}
        if method == "chat.getPermalink":
            if not (params.get("channel") and params.get("message_ts")):
                return {"ok": False, "error": "invalid_arguments"}
            # Slack's own form: the workspace's domain, the channel, the ts without its dot, and a reply's thread.
            channel, ts = params["channel"], str(params["message_ts"])
            thread = next((c.params.get("thread_ts") for c in self.messages() if c.ts == ts), None)
            in_thread = f"?thread_ts={thread}&cid={channel}" if thread else ""
            return {"ok": True, "channel": channel,
                    "permalink": f"https://test.slack.com/archives/{channel}/p{ts.replace('.', '')}{in_thread}"}
        if method == "assistant.threads.setSuggestedPrompts":
            return _suggested_prompts_error(params) or {"ok": True}
        if method == "assistant.threads.setTitle":
            if not (params.get("channel_id") and params.get("thread_ts") and params.get("title")):
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1700000{next(self._ts):03d}.000200"}
        if method == "conversations.replies":
            return self._replies(params)
        if method == "chat.getPermalink":
            channel, ts = str(params.get("channel") or ""), str(params.get("message_ts") or "")
            if not channel or not ts:
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True, "channel": channel,
                    "permalink": f"https://test.slack.com/archives/{channel}/p{ts.replace('.', '')}"}
        if method == "files.info":
            file = self.files.get(params.get("file", ""))
            return {"ok": True, "file": file} if file else {"ok": False, "error": "file_not_found"}
        if method == "conversations.info":
            channel = self.channels.get(str(params.get("channel")))
            return {"ok": True, "channel": channel} if channel else {"ok": False, "error": "channel_not_found"}
        if method == "views.open":
            return {"ok": True, "view": {"id": "V1", **(params.get("view") or {})}}
        if method == "apps.connections.open":
            if params["_auth"] != f"Bearer {APP_TOKEN}":
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
        return {"ok": True}

    def _join_thread(self, params: dict[str, Any], ts: str, *, text: str) -> None:
        """The bot's reply becomes part of the thread it answers in, as in Slack."""
        thread = self.threads.get((str(params.get("channel")), str(params.get("thread_ts"))))
        if thread is not None:
            thread.append({"type": "message", "user": BOT_USER_ID, "bot_id": "BBOT", "text": text, "ts": ts,
                           "thread_ts": params["thread_ts"]})

    def _replies(self, params: dict[str, Any]) -> dict[str, Any]:
        """`conversations.replies`: the thread oldest first, within `oldest`/`latest`, a page of `limit`."""
        thread = self.threads.get((str(params.get("channel")), str(params.get("ts"))))
        if thread is None:
            return {"ok": False, "error": "thread_not_found"}
        inclusive = str(params.get("inclusive", "")).lower() in ("1", "true")
        latest = float(params["latest"]) if params.get("latest") else None
        oldest = float(params["oldest"]) if params.get("oldest") else None
        within = [m for m in thread
                  if (latest is None or float(m["ts"]) < latest or (inclusive and float(m["ts"]) == latest))
                  and (oldest is None or float(m["ts"]) > oldest or (inclusive and float(m["ts"]) == oldest))]
        start = int(str(params.get("cursor") or "page:0").removeprefix("page:"))
        limit = min(int(params.get("limit") or 1000), 1000)
        page = within[start:start + limit]
        more = start + limit < len(within)
        return {"ok": True, "messages": page, "has_more": more,
                "response_metadata": {"next_cursor": f"page:{start + limit}" if more else ""}}

    def _start_stream(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("thread_ts"):
            return {"ok": False, "error": "invalid_arguments"}  # streamed messages are replies
        if not channel.startswith("D"):  # outside DMs Slack must know who the stream is for
            if not params.get("recipient_team_id"):
                return {"ok": False, "error": "missing_recipient_team_id"}
            if not params.get("recipient_user_id"):
                return {"ok": False, "error": "missing_recipient_user_id"}
        error = _invalid_chunks(params)
        if error:
            return {"ok": False, "error": error}
        ts = f"1700000{next(self._ts):03d}.000100"
        stream = Stream(channel=channel, thread_ts=str(params["thread_ts"]))
        self._join_thread(params, ts, text=str(params.get("markdown_text") or ""))
        stream.add(params)
        self.streams[ts] = stream
        return {"ok": True, "channel": channel, "ts": ts}

    def _continue_stream(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        stream = self.streams.get(str(params.get("ts")))
        if stream is None or stream.channel != params.get("channel"):
            return {"ok": False, "error": "message_not_found"}
        if stream.state != "streaming":
            return {"ok": False, "error": "message_not_in_streaming_state"}
        error = _invalid_chunks(params)
        if error:
            return {"ok": False, "error": error}
        if method == "chat.appendStream" and self.stream_appends_allowed is not None:
            if stream.appends >= self.stream_appends_allowed:
                stream.state = "expired"
                return {"ok": False, "error": "message_not_in_streaming_state"}
            stream.appends += 1
        stream.add(params)
        if method == "chat.stopStream":
            stream.state = "stopped"
            stream.blocks = list(params.get("blocks") or [])
            return {"ok": True, "channel": stream.channel, "ts": params["ts"],
                    "message": {"text": stream.text, "ts": params["ts"], "bot_id": "BBOT", "type": "message"}}
        return {"ok": True, "channel": stream.channel, "ts": params["ts"]}

    async def _download(self, request: web.Request) -> web.Response:
        file_id = request.match_info["id"]
        self.downloads.append({"id": file_id, "auth": request.headers.get("Authorization")})
        if request.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            # Like Slack: no valid token, you get the sign-in page.
            return web.Response(text="<html>sign in</html>", content_type="text/html")
        data, content_type = self.file_bodies[file_id]
        return web.Response(body=data, content_type=content_type)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1})
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self.socket_acks.append(json.loads(message.data))
        finally:
            self._sockets.remove(ws)
        return ws


@dataclass
class Stream:
    """A message being written through `chat.startStream` / `appendStream` / `stopStream`."""

    channel: str
    thread_ts: str
    state: str = "streaming"
    """`streaming`, `stopped` (by the app) or `expired` (closed by Slack)."""
    appends: int = 0
    text: str = ""
    """The Markdown streamed so far."""
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Task id -> its latest `task_update` (title and status replace, as in Slack)."""
    block_chunks: list[dict[str, Any]] = field(default_factory=list)
    blocks: list[dict[str, Any]] = field(default_factory=list)
    """The blocks `chat.stopStream` put under the message."""

    def add(self, params: dict[str, Any]) -> None:
        self.text += params.get("markdown_text") or ""
        for chunk in params.get("chunks") or []:
            if chunk["type"] == "markdown_text":
                self.text += chunk["text"]
            elif chunk["type"] == "task_update":
                self.tasks[chunk["id"]] = {**self.tasks.get(chunk["id"], {}), **chunk}
            elif chunk["type"] == "blocks":
                self.block_chunks.extend(chunk["blocks"])


RESPONSE_URL_USES = 5
"""Messages a `response_url` takes (within its 30 minutes)."""
MEMBER_METHODS = frozenset({"conversations.replies", "conversations.history", "chat.postMessage",
                            "chat.postEphemeral", "chat.startStream"})
"""Methods Slack refuses the bot in a channel it is not a member of."""
MARKDOWN_LIMIT = 12_000
TEXT_LIMIT = 3000
CHUNK_TYPES = {"markdown_text", "task_update", "plan_update", "blocks"}
TASK_STATUSES = {"pending", "in_progress", "complete", "error"}
BLOCK_TYPES = {"section", "context", "actions", "markdown", "context_actions", "header", "divider", "rich_text"}


def _has_action(blocks: list[dict[str, Any]], action_id: str) -> bool:
    return any(element.get("action_id") == action_id for block in blocks for element in block.get("elements", []))


def _invalid_chunks(params: dict[str, Any]) -> str | None:
    """Slack's answer to malformed stream content, or None."""
    for chunk in params.get("chunks") or []:
        kind = chunk.get("type")
        if kind not in CHUNK_TYPES:
            return "invalid_chunks"
        if kind == "markdown_text" and len(chunk.get("text") or "") > MARKDOWN_LIMIT:
            return "msg_too_long"
        if kind == "task_update" and (not chunk.get("id") or not chunk.get("title")
                                      or chunk.get("status") not in TASK_STATUSES):
            return "invalid_chunks"
        if kind == "blocks" and _invalid_blocks(chunk.get("blocks")):
            return "invalid_blocks"
    if len(params.get("markdown_text") or "") > MARKDOWN_LIMIT:
        return "msg_too_long"
    return None


def _invalid_blocks(blocks: Any) -> bool:
    """True where Slack would answer `invalid_blocks` (the limits teambot's messages come near)."""
    if not blocks:
        return False
    if not isinstance(blocks, list) or len(blocks) > 50:
        return True
    markdown = 0
    for block in blocks:
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            return True
        elements = block.get("elements") or []
        if kind == "markdown":
            markdown += len(block.get("text") or "")
        elif kind == "section" and len(block["text"]["text"]) > TEXT_LIMIT:
            return True
        elif kind == "context" and (len(elements) > 10 or any(len(e.get("text", "")) > TEXT_LIMIT for e in elements)):
            return True
        elif kind == "context_actions" and (len(elements) > 5 or any(
                e.get("type") not in ("feedback_buttons", "icon_button") for e in elements)):
            return True
        elif kind == "actions" and (len(elements) > 25 or any(e.get("type") == "feedback_buttons" for e in elements)):
            return True
    return markdown > MARKDOWN_LIMIT


MAX_SUGGESTED_PROMPTS = 4


def _suggested_prompts_error(params: dict[str, Any]) -> dict[str, Any] | None:
    """Slack's refusal of an `assistant.threads.setSuggestedPrompts` call, or None: a DM channel, and one
    to four prompts, each with a `title` and a `message`."""
    prompts = params.get("prompts")
    if not params.get("channel_id"):
        return {"ok": False, "error": "channel_not_found"}
    if (not isinstance(prompts, list) or not 1 <= len(prompts) <= MAX_SUGGESTED_PROMPTS
            or not all(isinstance(p, dict) and p.get("title") and p.get("message") for p in prompts)):
        return {"ok": False, "error": "invalid_arguments"}
    return None
