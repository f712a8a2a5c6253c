"""A loopback fake of Discord: the websocket gateway and the REST API, recording every call.

The real discord.py client connects to it (the `run_discord` fixture points
discord.py's endpoints at `api_base` and `gateway_url`). Tests push gateway
events (`message`, `slash`) and read what the bot did from `calls` (`wait_for`
polls until a condition holds).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any
from urllib.parse import quote

from aiohttp import WSMsgType, web

from tests.support.loopback import serve_on_loopback

# Real-looking snowflakes: discord.py's mention parsing expects 15-20 digits.
BOT_ID = 110000000000000001
APP_ID = BOT_ID
EDITOR_ROLE_ID = 222222222222222222
GUILD_ID = 150000000000000001
CHANNEL_ID = 160000000000000001
HUMAN_ID = 120000000000000001
OTHER_BOT_ID = 130000000000000001
DM_CHANNEL_ID = 170000000000000001
TIMESTAMP = "2025-01-01T00:00:00+00:00"
MESSAGE_CONTENT_INTENT = 1 << 15


def user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "global_name": name, "discriminator": "0",
            "avatar": None, "bot": bot}


def _json(data: Any, *, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only when the content type is exactly `application/json` (no charset).
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


@dataclass
class Call:
    method: str
    path: str
    json: Any
    query: dict[str, str]
    at: float = field(default_factory=time.monotonic)
    message_id: str | None = None
    """The id of the message the call created or edited, if any."""


@dataclass
class FakeDiscord:
    """`async with FakeDiscord() as discord:` then `discord.api_base`, `discord.gateway_url`."""

    files: dict[str, bytes] = field(default_factory=dict)
    """Attachment downloads served at `/attachments/<name>`; a missing name is a 404."""
    calls: list[Call] = field(default_factory=list)
    identify: dict[str, Any] | None = None
    port: int = 0
    _ids: Any = field(default_factory=lambda: count(190000000000000001))
    _seq: Any = field(default_factory=lambda: count(1))
    _ws: web.WebSocketResponse | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    threads: dict[int, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Message id -> what the bot's message shows now (content and components), as Discord would send it back."""
    interactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Interaction token -> the interaction pushed (to answer its callbacks)."""
    _originals: dict[str, int] = field(default_factory=dict)
    """The message id of each interaction's original response, by interaction token."""
    history: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    """Channel or thread id -> messages people posted there (`post`, `message`), oldest first: what
    `GET /channels/{id}/messages` pages through (with the bot's own messages) and
    `GET /channels/{id}/messages/{id}` finds."""
    unreadable: set[int] = field(default_factory=set)
    """Channels and threads whose history the bot may not read: `GET .../messages` answers 403 Missing Access
    (as Discord does without View Channel, or in a private thread the bot is not in)."""

    # --- lifecycle ----------------------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def __aenter__(self) -> FakeDiscord:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{name}", self._attachment)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- gateway ------------------------------------------------------------------------------------------------

    async def connected(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a test helper's own bound
        """Wait until the client identified and got READY and GUILD_CREATE."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    def expect_reconnect(self) -> None:
        """Before a client connects again (a restart): `connected` then waits for that connection."""
        self._ready.clear()

    async def _send(self, op: int, data: Any, event: str | None = None) -> None:
        assert self._ws is not None, "no gateway connection"
        payload: dict[str, Any] = {"op": op, "d": data, "s": None, "t": event}
        if op == 0:
            payload["s"] = next(self._seq)
        await self._ws.send_str(json.dumps(payload))

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        await self._send(0, data, event)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await self._send(10, {"heartbeat_interval": 41250})
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame["op"] == 1:
                await self._send(11, None)
            elif frame["op"] == 2:
                self.identify = frame["d"]
                await self.dispatch("READY", {
                    "v": 10, "user": user(BOT_ID, "teambot", bot=True),
                    "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
                    "session_id": "session-1", "resume_gateway_url": self.gateway_url, "shard": [0, 1],
                    "application": {"id": str(APP_ID), "flags": 0},
                })
                await self.dispatch("GUILD_CREATE", self.guild())
                self._ready.set()
        return ws

    def guild(self) -> dict[str, Any]:
        return {
            "id": str(GUILD_ID), "name": "Team", "icon": None, "owner_id": str(HUMAN_ID), "unavailable": False,
            "member_count": 2, "large": False, "features": [], "emojis": [], "stickers": [], "voice_states": [],
            "presences": [], "threads": [], "stage_instances": [], "guild_scheduled_events": [],
            "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "mfa_level": 0, "premium_tier": 0, "nsfw_level": 0, "preferred_locale": "en-US",
            "roles": [{"id": str(GUILD_ID), "name": "@everyone", "permissions": str((1 << 50) - 1), "position": 0,
                       "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0},
                      {"id": str(EDITOR_ROLE_ID), "name": "Editors", "permissions": "0", "position": 1,
                       "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}],
            "members": [{"user": user(BOT_ID, "teambot", bot=True), "roles": [], "joined_at": TIMESTAMP,
                         "deaf": False, "mute": False, "flags": 0}],
            "channels": [{"id": str(CHANNEL_ID), "type": 0, "name": "general", "guild_id": str(GUILD_ID),
                          "position": 0, "permission_overwrites": [], "nsfw": False, "topic": None,
                          "parent_id": None, "rate_limit_per_user": 0}],
        }

    # --- events pushed by tests ---------------------------------------------------------------------------------

    def message_payload(self, content: str, *, channel_id: int, author_id: int = HUMAN_ID, guild: bool = True,
                        mention_bot: bool = False, attachments: list[dict[str, Any]] | None = None,
                        author_bot: bool = False, message_id: int | None = None,
                        reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
        """A message as Discord sends it; `reply_to`: the message it replies to (a reply, type 19, carries it
        whole as `referenced_message`; whether the reply pings its author is `mentions`, as on Discord)."""
        author = user(author_id, f"user{author_id}", bot=author_bot)
        payload: dict[str, Any] = {
            "id": str(message_id or next(self._ids)), "channel_id": str(channel_id), "author": author,
            "content": content, "timestamp": TIMESTAMP, "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [user(BOT_ID, "teambot", bot=True)] if mention_bot else [],
            "mention_roles": [], "attachments": attachments or [], "embeds": [], "pinned": False, "type": 0,
            "flags": 0, "components": [],
        }
        if guild:
            payload["guild_id"] = str(GUILD_ID)
            payload["member"] = {"roles": [], "joined_at": TIMESTAMP, "deaf": False, "mute": False, "flags": 0}
        if reply_to is not None:
            payload.update(type=19, referenced_message=reply_to, message_reference={
                "type": 0, "message_id": reply_to["id"], "channel_id": reply_to["channel_id"],
                **({"guild_id": str(GUILD_ID)} if guild else {})})
        return payload

    async def message(self, content: str, *, channel_id: int = CHANNEL_ID, **options: Any) -> dict[str, Any]:
        """Push MESSAGE_CREATE as a human (by default) would cause it; returns the payload as sent.

        Like Discord, a client that identified without the message content intent gets a server message's
        `content`, `attachments`, `embeds` and `components` empty, unless the message mentions the bot or the
        bot wrote it (DMs always come whole).
        """
        payload = self.message_payload(content, channel_id=channel_id, **options)
        said = self.history.setdefault(channel_id, [])
        if all(m["id"] != payload["id"] for m in said):  # a replayed event is one message
            said.append(payload)
        payload = self._as_the_bot_sees(payload)
        await self.dispatch("MESSAGE_CREATE", payload)
        return payload

    def _as_the_bot_sees(self, payload: dict[str, Any]) -> dict[str, Any]:
        """`payload` as Discord shows it to the bot, over the gateway and over REST alike: without the message
        content intent a server message's words are empty unless it mentions the bot or the bot wrote it."""
        if not self.reads_message_content and "guild_id" in payload and not payload["mentions"] \
                and payload["author"]["id"] != str(BOT_ID):
            return {**payload, "content": "", "attachments": [], "embeds": [], "components": []}
        return payload

    @property
    def reads_message_content(self) -> bool:
        """Whether the client identified with the privileged message content intent (1 << 15)."""
        return self.identify is None or bool(self.identify["intents"] & MESSAGE_CONTENT_INTENT)

    def attachment(self, name: str, data: bytes | None, *, content_type: str = "text/plain") -> dict[str, Any]:
        """An attachment payload whose URL this server serves (or 404s when `data` is None)."""
        if data is not None:
            self.files[name] = data
        # Like Discord's CDN links: the file name is percent-encoded in the URL.
        url = f"{self.base}/attachments/{quote(name, safe='')}"
        return {"id": str(next(self._ids)), "filename": name, "size": len(data or b""),
                "url": url, "proxy_url": url, "content_type": content_type}

    async def slash(self, name: str, options: list[dict[str, Any]] | None = None, *, channel_id: int = CHANNEL_ID,
                    attachments: list[dict[str, Any]] | None = None, roles: list[int] | None = None
                    ) -> dict[str, Any]:
        """Push INTERACTION_CREATE for a chat-input command; returns the payload (its `token`, `id`)."""
        data = self._command_data(name, command_type=1, options=options)
        if attachments:
            data["resolved"] = {"attachments": {a["id"]: a for a in attachments}}
        return await self.interact(2, data, channel_id=channel_id, roles=roles)

    async def autocomplete(self, name: str, options: list[dict[str, Any]], *, channel_id: int = CHANNEL_ID,
                           user_id: int = HUMAN_ID, roles: list[int] | None = None) -> dict[str, Any]:
        """Push an APPLICATION_COMMAND_AUTOCOMPLETE interaction (type 4): `options` as for `slash`, the option
        being typed marked `"focused": True`. The bot answers with callback type 8 and `data.choices`."""
        return await self.interact(4, self._command_data(name, command_type=1, options=options),
                                   channel_id=channel_id, user_id=user_id, roles=roles)

    async def message_command(self, name: str, target: dict[str, Any], *, channel_id: int = CHANNEL_ID,
                              user_id: int = HUMAN_ID) -> dict[str, Any]:
        """Push a message context menu command (application command type 3) on `target`, a message payload:
        Discord sends its id as `target_id` and the message itself in `resolved.messages`."""
        data = self._command_data(name, command_type=3, options=None)
        data["target_id"] = target["id"]
        data["resolved"] = {"messages": {target["id"]: target}}
        return await self.interact(2, data, channel_id=channel_id, user_id=user_id)

    async def click(self, custom_id: str, *, message_id: str, channel_id: int | None = None,
                    user_id: int = HUMAN_ID) -> dict[str, Any]:
        """Push a MESSAGE_COMPONENT interaction (type 3): a click on the button `custom_id` (component type 2) of
        the bot's message `message_id`, which Discord sends whole, buttons included, as `messages` holds it (an
        id never sent here stands for a message a client sent before a restart). The click happens in
        `channel_id`, by default the message's channel."""
        known = self.messages.get(message_id)
        message = dict(known) if known is not None else {
            **self.message_payload("", channel_id=channel_id or CHANNEL_ID, author_id=BOT_ID, author_bot=True,
                                   message_id=int(message_id)), "components": [], "flags": 0}
        where = channel_id if channel_id is not None else int(message["channel_id"])
        return await self.interact(3, {"custom_id": custom_id, "component_type": 2}, channel_id=where,
                                   user_id=user_id, message=message)

    def post(self, content: str, *, channel_id: int = CHANNEL_ID, author_id: int = HUMAN_ID,
             author_bot: bool = False) -> dict[str, Any]:
        """A message already in a channel's history (no gateway event: said before the test looks)."""
        payload = self.message_payload(content, channel_id=channel_id, author_id=author_id, author_bot=author_bot)
        self.history.setdefault(channel_id, []).append(payload)
        return payload

    async def start_thread(self, starter: dict[str, Any], name: str) -> int:
        """A thread people started from `starter` (its id is the starter's, as on Discord), made known to
        the client over the gateway; returns the thread's id."""
        thread_id = int(starter["id"])
        thread = {"id": str(thread_id), "guild_id": str(GUILD_ID), "parent_id": starter["channel_id"],
                  "owner_id": str(HUMAN_ID), "name": name, "type": 11, "last_message_id": None,
                  "message_count": 0, "member_count": 1, "rate_limit_per_user": 0, "flags": 0,
                  "thread_metadata": {"archived": False, "auto_archive_duration": 1440,
                                      "archive_timestamp": TIMESTAMP, "locked": False}}
        self.threads[thread_id] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread_id

    async def message_menu(self, name: str, target: dict[str, Any], *, roles: list[int] | None = None
                           ) -> dict[str, Any]:
        """Push INTERACTION_CREATE for a message context menu used on `target`; returns the payload."""
        data = self._command_data(name, command_type=3, options=None)
        data["target_id"] = target["id"]
        data["resolved"] = {"messages": {target["id"]: target}}
        return await self.interact(2, data, channel_id=int(target["channel_id"]), roles=roles)

    def _command_data(self, name: str, *, command_type: int, options: list[dict[str, Any]] | None
                      ) -> dict[str, Any]:
        data: dict[str, Any] = {"id": str(next(self._ids)), "name": name, "type": command_type,
                                "guild_id": str(GUILD_ID)}
        if options is not None or command_type == 1:
            data["options"] = options or []
        return data

    async def interact(self, interaction_type: int, data: dict[str, Any], *, channel_id: int = CHANNEL_ID,
                       user_id: int = HUMAN_ID, roles: list[int] | None = None,
                       message: dict[str, Any] | None = None) -> dict[str, Any]:
        """Push INTERACTION_CREATE of `interaction_type` with `data` by a server member; returns the payload."""
        interaction_id = next(self._ids)
        # A thread comes whole (owner, metadata), as Discord sends it: a restarted client has none cached.
        channel = {**self.threads[channel_id], "permissions": str((1 << 50) - 1)} if channel_id in self.threads \
            else {"id": str(channel_id), "type": 0, "guild_id": str(GUILD_ID), "name": "c", "parent_id": None,
                  "permissions": str((1 << 50) - 1)}
        payload: dict[str, Any] = {
            "id": str(interaction_id), "application_id": str(APP_ID), "type": interaction_type,
            "token": f"tok{interaction_id}",
            "version": 1, "guild_id": str(GUILD_ID), "channel_id": str(channel_id), "channel": channel,
            "member": {"user": user(user_id, "alice" if user_id == HUMAN_ID else f"user{user_id}"),
                       "roles": [str(r) for r in roles or []],
                       "joined_at": TIMESTAMP, "deaf": False, "mute": False, "flags": 0,
                       "permissions": str((1 << 50) - 1)},
            "app_permissions": str((1 << 50) - 1), "locale": "en-US", "guild_locale": "en-US",
            "entitlements": [], "authorizing_integration_owners": {}, "context": 0,
            "attachment_size_limit": 25 * 1024 * 1024, "data": data,
        }
        if message is not None:
            payload["message"] = message
        self.interactions[payload["token"]] = payload
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    def _history_page(self, channel_id: int, query: dict[str, str]) -> web.Response:
        """`GET /channels/{id}/messages`, as Discord documents it: newest first, `limit` (1-100, default 50)
        of them, `before` or `after` a message id (or the latest); people's messages and the bot's own; 403
        Missing Access where the bot may not read; words hidden without the message content intent (ephemeral
        messages are in no history)."""
        if channel_id in self.unreadable:
            return _json({"message": "Missing Access", "code": 50001}, status=403)
        limit = int(query.get("limit", 50))
        if not 1 <= limit <= 100 or sum(k in query for k in ("before", "after", "around")) > 1:
            return _json({"message": "Invalid Form Body", "code": 50035}, status=400)
        # The bot's messages too, as they show now; ephemeral ones are nobody's history.
        bots = [m for m in self.messages.values() if m["channel_id"] == str(channel_id) and not m["flags"] & 64]
        messages = sorted([*self.history.get(channel_id, []), *bots], key=lambda m: int(m["id"]))
        if "after" in query:
            chosen = [m for m in messages if int(m["id"]) > int(query["after"])][:limit]
        else:
            before = int(query.get("before", 1 << 63))
            chosen = [m for m in messages if int(m["id"]) < before][-limit:]
        return _json([self._as_the_bot_sees(m) for m in reversed(chosen)])

    # --- REST ---------------------------------------------------------------------------------------------------

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        regex = re.compile(pattern)
        return [c for c in self.calls if c.method == method and regex.fullmatch(c.path)]

    async def wait_for(self, condition: Callable[[], Any], timeout: float = 15.0) -> Any:  # noqa: ASYNC109
        """Poll until `condition()` is truthy; returns its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = condition()
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out; calls were: {[(c.method, c.path) for c in self.calls]}")
            await asyncio.sleep(0.02)

    async def _attachment(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.calls.append(Call("GET", f"/attachments/{name}", None, dict(request.query)))
        if name not in self.files:
            return web.Response(status=404, text="not found")
        return web.Response(body=self.files[name], content_type="application/octet-stream")

    @staticmethod
    async def _body(request: web.Request) -> Any:
        if request.content_type == "application/json":
            return await request.json()
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":
                    return json.loads(await part.text())
        return None

    def _bot_message(self, channel_id: str, content: str, message_id: int | None = None,
                     body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The bot's message as Discord returns it, remembered in `messages`: an edit keeps what it leaves out
        (components stay unless `components` is sent), as in Discord."""
        message = self.message_payload(content, channel_id=int(channel_id), author_id=BOT_ID, author_bot=True,
                                       guild=int(channel_id) != DM_CHANNEL_ID, message_id=message_id)
        known = self.messages.get(message["id"], {})
        body = body or {}
        if known and "content" not in body:
            message["content"] = known["content"]
        message["components"] = body.get("components", known.get("components", []))
        message["flags"] = body.get("flags", known.get("flags", 0))
        self.messages[message["id"]] = message
        return message

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body = await self._body(request)
        self.calls.append(Call(request.method, path, body, dict(request.query)))
        method = request.method
        ok = _json

        if method == "GET" and path == "/users/@me":
            return ok(user(BOT_ID, "teambot", bot=True))
        if method == "GET" and path == "/oauth2/applications/@me":
            return ok({"id": str(APP_ID), "name": "teambot", "icon": None, "description": "", "bot_public": True,
                       "bot_require_code_grant": False, "owner": user(HUMAN_ID, "alice"), "summary": "",
                       "verify_key": "00", "flags": 0, "rpc_origins": [], "team": None})
        if method == "PUT" and (m := re.fullmatch(r"/applications/\d+(?:/guilds/(\d+))?/commands", path)):
            return ok([{**command, "id": str(next(self._ids)), "application_id": str(APP_ID), "version": "1",
                        "guild_id": m.group(1), "nsfw": False,
                        # Discord answers with the permission bits as a string, whatever number was sent.
                        "default_member_permissions": None if command.get("default_member_permissions") is None
                        else str(command["default_member_permissions"]),
                        "description": command.get("description", ""), "type": command.get("type", 1)}
                       for command in body or []])
        if method == "POST" and (m := re.fullmatch(r"/channels/(\d+)/messages/(\d+)/threads", path)):
            thread_id = next(self._ids)
            thread = {"id": str(thread_id), "guild_id": str(GUILD_ID), "parent_id": m.group(1),
                      "owner_id": str(BOT_ID), "name": body["name"], "type": 11, "last_message_id": None,
                      "message_count": 0, "member_count": 1, "rate_limit_per_user": 0, "flags": 0,
                      "thread_metadata": {"archived": False, "auto_archive_duration": 1440,
                                          "archive_timestamp": TIMESTAMP, "locked": False}}
            self.threads[thread_id] = thread
            # Like Discord: the creator also receives THREAD_CREATE over the gateway.
            await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
            return ok(thread, status=201)
        if method == "GET" and (m := re.fullmatch(r"/channels/(\d+)/messages", path)):
            return self._history_page(int(m.group(1)), dict(request.query))
        if method == "GET" and (m := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", path)):
            found = [p for p in self.history.get(int(m.group(1)), []) if p["id"] == m.group(2)]
            return ok(self._as_the_bot_sees(found[0])) if found \
                else ok({"message": "Unknown Message", "code": 10008}, status=404)
        if method == "POST" and (m := re.fullmatch(r"/channels/(\d+)/typing", path)):
            return web.Response(status=204)
        if method == "POST" and (m := re.fullmatch(r"/channels/(\d+)/messages", path)):
            message = self._bot_message(m.group(1), body.get("content", ""), body=body)
            self.calls[-1].message_id = message["id"]
            return ok(message)
        if method == "PATCH" and (m := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", path)):
            self.calls[-1].message_id = m.group(2)
            return ok(self._bot_message(m.group(1), body.get("content", ""), int(m.group(2)), body=body))
        if method == "DELETE" and (m := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", path)):
            self.calls[-1].message_id = m.group(2)
            return web.Response(status=204)
        if method == "POST" and (m := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", path)):
            data = body.get("data") or {}
            answered: dict[str, Any] = {"interaction": {
                "id": m.group(1), "type": 2, "response_message_loading": body.get("type") == 5,
                "response_message_ephemeral": bool(data.get("flags", 0) & 64)}}
            clicked = self.interactions.get(m.group(2), {}).get("message")
            if body.get("type") == 4:  # a new message, ephemeral with flag 64
                channel_id = self.interactions.get(m.group(2), {}).get("channel_id", str(CHANNEL_ID))
                message = self._bot_message(channel_id, data.get("content", ""), body=data)
                self.calls[-1].message_id = message["id"]
                answered["interaction"]["response_message_id"] = message["id"]
                answered["resource"] = {"type": 4, "message": message}
            elif body.get("type") == 7 and clicked is not None:  # the clicked message, updated
                message = self._bot_message(clicked["channel_id"], data.get("content", clicked["content"]),
                                            int(clicked["id"]), body=data)
                self.calls[-1].message_id = message["id"]
                answered["resource"] = {"type": 7, "message": message}
            return ok(answered)
        if (m := re.fullmatch(r"/webhooks/\d+/([^/]+)(?:/messages/(@original|\d+))?", path)) and method in (
                "POST", "PATCH"):
            token, which = m.groups()
            # Like Discord: the original response is one message with one id, however often it is edited.
            message_id = (self._originals.setdefault(token, next(self._ids)) if which == "@original"
                          else next(self._ids) if which is None else int(which))
            self.calls[-1].message_id = str(message_id)
            return ok(self._bot_message(str(CHANNEL_ID), (body or {}).get("content", ""), message_id, body=body))
        if method == "DELETE" and path.startswith("/webhooks/"):
            return web.Response(status=204)
        return ok({"message": f"fake discord: no route {method} {path}", "code": 0}, status=404)

    # --- what the bot showed ------------------------------------------------------------------------------------

    def thread_ids(self) -> list[int]:
        return list(self.threads)

    def contents(self, channel_id: int) -> list[str]:
        """What each message the bot posted in a channel finally shows, in posting order (edits applied)."""
        shown: dict[str, str] = {}
        for call in self.calls:
            if call.message_id and call.path.startswith(f"/channels/{channel_id}/messages"):
                if call.method == "POST":
                    shown[call.message_id] = call.json.get("content", "")
                elif call.method == "PATCH" and call.message_id in shown:
                    shown[call.message_id] = call.json.get("content", "")
                elif call.method == "DELETE":
                    shown.pop(call.message_id, None)
        return list(shown.values())

    def shown(self, message_id: str) -> str:
        """What a message of the bot shows now (its last content sent)."""
        return str(self.messages.get(message_id, {}).get("content", ""))

    def buttons(self, message_id: str) -> list[dict[str, Any]]:
        """The component rows a message of the bot carries now (a send sets them, an edit may replace them)."""
        rows: list[dict[str, Any]] = self.messages.get(message_id, {}).get("components", [])
        return rows

    def custom_ids(self, message_id: str) -> list[str]:
        """The custom ids of the buttons a message of the bot carries now."""
        return [c["custom_id"] for row in self.buttons(message_id) for c in row.get("components", [])
                if "custom_id" in c]

    def responses_to(self, interaction: dict[str, Any]) -> list[Call]:
        """The bot's responses to one interaction (`POST /interactions/{id}/{token}/callback`)."""
        return self.calls_to("POST", rf"/interactions/{interaction['id']}/[^/]+/callback")

    def interaction_contents(self, token: str) -> list[str]:
        """What the deferred response and each followup of one interaction finally show."""
        shown: dict[str, str] = {}
        for call in self.calls:
            if call.message_id and f"/{token}" in call.path and call.path.startswith("/webhooks/"):
                shown[call.message_id] = (call.json or {}).get("content", "")
        return list(shown.values())
