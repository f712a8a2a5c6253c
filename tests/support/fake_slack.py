"""A loopback fake of the Slack Web API (and the Socket Mode websocket), recording every call.

Point the bot's `SLACK_API_URL` at `api_url`. Behaviour is set per test:
files it serves (`add_file`), methods answering 429 (`rate_limit`) or an
error (`errors`). `wait_for` polls the recorded calls.
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
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
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
                "url_private_download": f"{self.base_url}/files/{file_id}/{name}"}
        self.files[file_id] = info
        return info

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

    def final_update(self, ts: str) -> Call | None:
        """The last `chat.update` of message `ts` that carries the finished answer's blocks."""
        updates = [c for c in self.of("chat.update") if c.params.get("ts") == ts and c.params.get("blocks")]
        return updates[-1] if updates else None

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
            params = dict(parse_qsl(raw.decode()))
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
        else:
            call.result = self._answer(method, params)
        return web.json_response(call.result)

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "teambot",
                    "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": "BBOT"}
        if method == "chat.postMessage":
            ts = f"1700000{next(self._ts):03d}.000100"
            return {"ok": True, "channel": params.get("channel"), "ts": ts,
                    "message": {"text": params.get("text"), "ts": ts, "bot_id": "BBOT"}}
        if method == "chat.update":
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts"), "text": params.get("text")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1700000{next(self._ts):03d}.000200"}
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
