"""A small HTTP API under `/api/v1` for other integrations, on the shared aiohttp server.

    register(app, teambot)   # called once by `bot.serve.build_web_app`

Every endpoint except `GET /api/v1/openapi.json` needs `Authorization: Bearer
<TEAMBOT_API_TOKEN>`; with no token configured the API answers 503. Errors are
one JSON line, `{"error": "..."}`, and nothing is stored when a request fails
validation. The API goes through the same parts as every chat platform: the
dispatcher answers (scoped by `bot.scoping.visible_scopes`), the knowledge base
ingests, the history store remembers.

The token is an integration's credential, trusted like an admin: it may ask,
upload and delete in any workspace and channel it names, including the
workspace-wide scope (`channel: "*"`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from redis.exceptions import RedisError

from adapters.base import CollectingStream
from bot.core.errors import StoreUnavailable
from bot.core.labels import MAX_NAME_CHARS
from bot.core.values import DocumentInfo
from bot.dispatcher import SHUTTING_DOWN, SHUTTING_DOWN_ERROR
from bot.events import WORKSPACE_WIDE, Attachment, IncomingMessage, Reply, Scope, conversation_key
from bot.httpbody import BodyTooLarge, MalformedBody, json_object, read_body
from bot.parsers import IngestError
from bot.scoping import visible_scopes
from bot.commands import FileOutcome

if TYPE_CHECKING:
    from bot.app import Teambot

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
DEFAULT_PLATFORM = "api"
MAX_QUESTION_CHARS = 8000
MAX_FILES_PER_UPLOAD = 10
MAX_FIELD_BYTES = 4096
"""Text fields of an upload (workspace, channel, note, uploader) are short; a bigger one is refused."""
MAX_ASK_BODY_BYTES = 64 * 1024
"""An ask body: a question of at most 8000 characters (6 bytes each, JSON-escaped) and a few short names."""
MAX_FILENAME_CHARS = MAX_NAME_CHARS
"""The longest file name taken: what file systems allow, and it is shown in every listing and citation."""
SPOOL_DIRECTORY = "uploads-in-progress"
"""Under the data dir: uploaded files while their request is handled (removed when it ends)."""
SPOOL_CHUNK_BYTES = 256 * 1024

# Names end up inside scope and conversation keys joined by ':', so they may not contain one
# (otherwise workspace "a:b" + channel "c" and workspace "a" + channel "b:c" would collide).
_NAME = re.compile(r"[^:\s]{1,200}")
_THREAD = re.compile(r"\S{1,200}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A request the API refuses: HTTP status and a one-line reason for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = " ".join(message.split())  # always one line


def error_response(status: int, message: str, *, headers: dict[str, str] | None = None,
                   **extra: Any) -> web.Response:
    headers = {**({"WWW-Authenticate": "Bearer"} if status == 401 else {}), **(headers or {})}
    return web.json_response({"error": " ".join(message.split()), **extra}, status=status, headers=headers)


# --- request parsing ------------------------------------------------------------------------


def _name(value: object, field_name: str, *, allow_workspace_wide: bool = False) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"'{field_name}' is required (a non-empty string)")
    value = value.strip()
    if allow_workspace_wide and value == WORKSPACE_WIDE:
        return value
    if not _NAME.fullmatch(value):
        raise ApiError(400, f"'{field_name}' must be at most 200 characters without ':' or spaces")
    return value


def _thread(value: object) -> str:
    if not isinstance(value, str) or not _THREAD.fullmatch(value):
        raise ApiError(400, "'thread' must be a string of 1 to 200 characters without spaces")
    return value


def _platform(value: object) -> str:
    return DEFAULT_PLATFORM if value is None else _name(value, "platform")


def _scope_from_query(request: web.Request) -> Scope:
    """`?workspace=&channel=[&platform=]`: the channel the request acts in."""
    query = request.query
    unknown = sorted(set(query) - {"workspace", "channel", "platform"})
    if unknown:
        raise ApiError(400, f"unknown query parameter '{unknown[0]}'")
    return Scope(
        platform=_platform(query.get("platform")),
        workspace=_name(query.get("workspace"), "workspace"),
        channel=_name(query.get("channel"), "channel", allow_workspace_wide=True),
    )


@dataclass(frozen=True, slots=True)
class AskRequest:
    question: str
    scope: Scope
    thread: str
    user: str
    stream: bool


_ASK_FIELDS = frozenset({"question", "workspace", "channel", "thread", "platform", "user", "stream"})


async def _ask_request(request: web.Request) -> AskRequest:
    try:
        body = json_object(await read_body(request, limit=MAX_ASK_BODY_BYTES))
    except BodyTooLarge as exc:
        raise ApiError(413, str(exc)) from None
    except MalformedBody as exc:
        raise ApiError(400, str(exc)) from None
    unknown = sorted(set(body) - _ASK_FIELDS)
    if unknown:
        raise ApiError(400, f"unknown field '{unknown[0]}'")
    question = body.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ApiError(400, "'question' is required (a non-empty string)")
    if len(question) > MAX_QUESTION_CHARS:
        raise ApiError(400, f"'question' is longer than {MAX_QUESTION_CHARS} characters")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be true or false")
    # A new conversation gets a fresh thread id; the client sends it back to follow up.
    thread = _thread(body["thread"]) if body.get("thread") is not None else uuid.uuid4().hex
    return AskRequest(
        question=question.strip(),
        scope=Scope(
            platform=_platform(body.get("platform")),
            workspace=_name(body.get("workspace"), "workspace"),
            channel=_name(body.get("channel"), "channel", allow_workspace_wide=True),
        ),
        thread=thread,
        user=_name(body.get("user", "api"), "user"),
        stream=stream or "text/event-stream" in request.headers.get("Accept", ""),
    )


# --- JSON shapes ------------------------------------------------------------------------------


def document_json(document: DocumentInfo) -> dict[str, Any]:
    return {
        "id": document.id,
        "source": document.source,
        "title": document.title,
        "scope": {"platform": document.scope.platform, "workspace": document.scope.workspace,
                  "channel": document.scope.channel},
        "workspace_wide": document.scope.channel == WORKSPACE_WIDE,
        "uploader": document.uploader,
        "chunk_count": document.chunk_count,
        "size_bytes": document.size_bytes,
        "ingested_at": datetime.fromtimestamp(document.ingested_at, timezone.utc).isoformat(),
        "note": document.note,
    }


def reply_json(reply: Reply, *, thread: str) -> dict[str, Any]:
    return {
        "answer": reply.text,
        "citations": [citation.as_json() for citation in reply.citations],
        "consulted": [citation.as_json() for citation in reply.consulted_only],
        "thread": thread,
        "answered": reply.answered,
        "mode": reply.mode,
        "history_available": reply.history_available,
    }


def outcome_json(outcome: FileOutcome) -> dict[str, Any]:
    if outcome.result is None:
        return {"file": outcome.name, "status": "rejected", "error": outcome.error}
    return {"file": outcome.name, "status": outcome.result.status, "document": document_json(outcome.result.document)}


# --- streams ----------------------------------------------------------------------------------


@dataclass
class SseReplyStream:
    """A `ReplyStream` writing Server-Sent Events: `delta` per piece, then the final event.

    A client that goes away mid-answer does not stop the answer: the dispatcher still
    finishes it and saves the turn, so the thread's history stays whole.
    """

    request: web.Request
    response: web.StreamResponse = field(init=False)
    reply: Reply | None = None
    client_gone: bool = False

    def __post_init__(self) -> None:
        self.response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # proxies (nginx) must pass deltas through at once
        })

    async def working(self) -> None:
        await self._prepare()

    async def push(self, *, text_so_far: str, delta: str) -> None:
        await self.send("delta", {"text": delta})

    async def finish(self, reply: Reply) -> None:
        # The final event carries the thread id, which only the handler knows; it sends it.
        self.reply = reply

    async def _prepare(self) -> None:
        if not self.response.prepared:
            await self.response.prepare(self.request)

    async def send(self, event: str, data: dict[str, Any]) -> None:
        if self.client_gone:
            return
        try:
            await self._prepare()
            await self.response.write(f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode())
        except (ConnectionError, RuntimeError):
            # RuntimeError: aiohttp refuses writes once the transport is closed.
            self.client_gone = True


# --- the API ----------------------------------------------------------------------------------


class HttpApi:
    """The `/api/v1` handlers; one instance per web application."""

    def __init__(self, teambot: "Teambot") -> None:
        self.teambot = teambot
        token = teambot.settings.api_token
        self._token = token.get_secret_value().encode() if token is not None else None
        # Files spooled by requests a crash or kill interrupted would otherwise stay on disk for good.
        shutil.rmtree(teambot.settings.data_dir / SPOOL_DIRECTORY, ignore_errors=True)

    # --- plumbing ---

    def guarded(self, handler: Handler) -> Handler:
        """Check the bearer token, then turn every refusal or failure into one JSON line."""

        async def guarded_handler(request: web.Request) -> web.StreamResponse:
            if self._token is None:
                return error_response(503, "the HTTP API is disabled: set TEAMBOT_API_TOKEN to enable it")
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            try:
                given_token = given.strip().encode()
            except UnicodeEncodeError:  # aiohttp keeps bytes that are not UTF-8 as surrogates
                given_token = b""
            # compare_digest: the time taken must not tell how much of a guessed token was right.
            if scheme.lower() != "bearer" or not hmac.compare_digest(given_token, self._token):
                return error_response(401, "a valid bearer token is required (Authorization: Bearer <token>)")
            try:
                return await handler(request)
            except ApiError as exc:
                return error_response(exc.status, exc.message)
            except StoreUnavailable as exc:
                return error_response(503, str(exc) or "the document store is unavailable; try again")
            except (RedisError, OSError):
                log.warning("redis unavailable for an API request", exc_info=True)
                return error_response(503, "the history store is unavailable; try again")
            except web.HTTPException as exc:
                return error_response(exc.status, exc.reason)
            except Exception as exc:  # noqa: BLE001 - a client gets one line, the log gets the trace
                log.exception("API request failed")
                return error_response(500, f"internal error ({type(exc).__name__})")

        guarded_handler.__doc__ = handler.__doc__
        return guarded_handler

    # --- ask ---

    async def ask(self, request: web.Request) -> web.StreamResponse:
        """Answer a question in a channel (JSON, or Server-Sent Events when streaming)."""
        ask = await _ask_request(request)
        message = IncomingMessage(
            platform=ask.scope.platform, workspace=ask.scope.workspace, channel=ask.scope.channel,
            thread=ask.thread, user=ask.user, text=ask.question, mentions_bot=True,
            event_id=f"api-{uuid.uuid4().hex}",
        )
        if ask.stream:
            return await self._ask_streamed(request, message)
        collected = CollectingStream()
        reply = await self._answer(message, collected)
        if reply.mode == "error" and reply.error == SHUTTING_DOWN_ERROR:
            return error_response(503, SHUTTING_DOWN, thread=ask.thread, headers={"Retry-After": "60"})
        if reply.mode == "error":
            # The model or a store failed; the turn was not saved. Say why, in one line.
            return error_response(502, reply.error or "the answer failed", thread=ask.thread)
        return web.json_response(reply_json(reply, thread=ask.thread))

    async def _answer(self, message: IncomingMessage, stream: Any) -> Reply:
        """The dispatcher's reply; an answer that shutdown cut short is a "restarting" error reply.

        On SIGTERM the dispatcher cancels answers still running after the grace period. The
        cancellation reaches this request through `await`, though the request itself is not
        cancelled: answering it (503, or a final SSE error) beats cutting the connection.
        """
        try:
            return await self.teambot.dispatcher.handle(message, stream)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this request itself is being cancelled (the client left, or the server stopped)
            return Reply(text=SHUTTING_DOWN, answered=False, mode="error", error=SHUTTING_DOWN_ERROR)

    async def _ask_streamed(self, request: web.Request, message: IncomingMessage) -> web.StreamResponse:
        stream = SseReplyStream(request)
        reply = await self._answer(message, stream)
        if reply.mode == "error" and reply.error == SHUTTING_DOWN_ERROR:
            await stream.send("error", {"error": SHUTTING_DOWN, "thread": message.thread})
        elif reply.mode == "error":
            await stream.send("error", {"error": reply.error or "the answer failed", "thread": message.thread})
        else:
            await stream.send("reply", reply_json(reply, thread=message.thread))
        if not stream.client_gone:
            try:
                await stream.response.write_eof()
            except (ConnectionError, RuntimeError):
                pass
        return stream.response

    # --- documents ---

    async def upload(self, request: web.Request) -> web.Response:
        """Ingest the `file` parts of a multipart form into one channel (or `*`, workspace-wide)."""
        if request.content_type != "multipart/form-data":
            raise ApiError(400, "send the files as multipart/form-data")
        spooled: list[Path] = []
        try:
            return await self._upload_spooled(request, spooled)
        finally:
            # The files are in the knowledge base now (or refused): their spooled copies go.
            await asyncio.to_thread(_remove_files, spooled)

    async def _upload_spooled(self, request: web.Request, spooled: list[Path]) -> web.Response:
        fields, files = await self._read_form(request, spooled)
        scope = Scope(
            platform=_platform(fields.get("platform")),
            workspace=_name(fields.get("workspace"), "workspace"),
            channel=_name(fields.get("channel"), "channel", allow_workspace_wide=True),
        )
        uploader = _name(fields.get("uploader", "api"), "uploader")
        if not files:
            raise ApiError(400, "no 'file' part in the form")
        # The HTTP API is a trusted caller, as before: no per-user permission check.
        outcomes = await self.teambot.commands.ingest(files, scope=scope, uploader=uploader,
                                                      note=fields.get("note", "").strip())
        results = [outcome_json(outcome) for outcome in outcomes]
        if all(outcome.result is None for outcome in outcomes):
            first = outcomes[0]
            return error_response(422, f"no file was added: {first.name}: {first.error}", results=results)
        return web.json_response({"results": results})

    async def _read_form(self, request: web.Request,
                         spooled: list[Path]) -> tuple[dict[str, str], list[Attachment]]:
        """Read every part before anything is stored, refusing an over-size one while reading it.

        Files are written to disk as they arrive (each path is added to `spooled`, for the caller
        to remove), so a request holds one read chunk in memory, not its files.
        """
        limit = self.teambot.settings.max_upload_bytes
        megabytes = self.teambot.settings.max_upload_mb
        spool_dir = self.teambot.settings.data_dir / SPOOL_DIRECTORY
        fields: dict[str, str] = {}
        files: list[Attachment] = []
        try:
            reader = await request.multipart()
        except (ValueError, AssertionError):
            raise ApiError(400, "the multipart body is malformed (missing boundary?)") from None
        while True:
            try:
                part = await reader.next()
            except LineTooLong:
                # aiohttp reads a part's header lines up to 8190 bytes; only a huge file name gets there.
                raise ApiError(400, f"a part's headers are too long (is its file name over "
                                    f"{MAX_FILENAME_CHARS} characters?)") from None
            except (ValueError, BadHttpMessage) as exc:
                raise ApiError(400, f"the multipart body is malformed ({exc})") from None
            if part is None:
                break
            if not hasattr(part, "read_chunk"):
                raise ApiError(400, "nested multipart bodies are not supported")
            name = part.name or ""
            if name == "file":
                if len(files) >= MAX_FILES_PER_UPLOAD:
                    raise ApiError(400, f"at most {MAX_FILES_PER_UPLOAD} files per request")
                filename = part.filename or ""
                if not filename.strip():
                    raise ApiError(400, "every 'file' part needs a filename")
                if len(filename) > MAX_FILENAME_CHARS:
                    raise ApiError(400, f"the file name {filename[:40]!r}... is longer than "
                                        f"{MAX_FILENAME_CHARS} characters")
                path, size = await _spool_part(part, directory=spool_dir, spooled=spooled, limit=limit,
                                               too_big=lambda: ApiError(413, f"{filename} is over the "
                                                   f"{megabytes:g} MB upload limit (TEAMBOT_MAX_UPLOAD_MB)"))
                files.append(Attachment(name=filename, path=path, size=size))
            elif name in {"workspace", "channel", "platform", "note", "uploader"}:
                if name in fields:
                    raise ApiError(400, f"'{name}' is given more than once")
                raw = await _read_part(part, limit=MAX_FIELD_BYTES, too_big=lambda: ApiError(
                    400, f"'{name}' is longer than {MAX_FIELD_BYTES} bytes"))
                try:
                    fields[name] = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise ApiError(400, f"'{name}' is not valid UTF-8") from None
            else:
                raise ApiError(400, f"unknown form field '{name}'")
        return fields, files

    async def list_documents(self, request: web.Request) -> web.Response:
        """Documents the channel sees: its own and the workspace-wide ones."""
        scope = _scope_from_query(request)
        message = _listener(scope)
        documents = await self.teambot.knowledge.list_documents(visible_scopes(message))
        return web.json_response({"documents": [document_json(d) for d in documents]})

    async def delete_document(self, request: web.Request) -> web.Response:
        """Delete a document of exactly this channel's scope; anything else is 404."""
        scope = _scope_from_query(request)
        reference = request.match_info["id"]
        documents = await self.teambot.knowledge.list_documents([scope])
        # Match the id only: a file name here could be mistaken for another document's id.
        if not any(document.id == reference for document in documents):
            raise ApiError(404, f"no document with id {reference!r} in this channel")
        try:
            deleted = await self.teambot.knowledge.delete([scope], reference)
        except IngestError as exc:  # deleted meanwhile by someone else
            raise ApiError(404, str(exc)) from None
        return web.json_response({"deleted": document_json(deleted)})

    # --- thread history ---

    def _conversation(self, request: web.Request) -> str:
        scope = _scope_from_query(request)
        thread = _thread(request.match_info["id"])
        return conversation_key(scope.platform, scope.workspace, scope.channel, thread)

    async def get_history(self, request: web.Request) -> web.Response:
        """The thread's remembered turns, oldest first."""
        key = self._conversation(request)
        turns = await self.teambot.history.load(key)
        return web.json_response({
            "thread": request.match_info["id"],
            "turns": [{"question": t.question, "answer": t.answer,
                       "at": datetime.fromtimestamp(t.at, timezone.utc).isoformat()} for t in turns],
        })

    async def delete_history(self, request: web.Request) -> web.Response:
        """Forget the thread: its next question starts a new conversation."""
        key = self._conversation(request)
        await self.teambot.history.clear(key)
        return web.json_response({"thread": request.match_info["id"], "cleared": True})


async def _read_part(part: Any, *, limit: int, too_big: Callable[[], ApiError]) -> bytes:
    """Read one body part, stopping as soon as it passes `limit` instead of buffering it all."""
    buffer = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        buffer += chunk
        if len(buffer) > limit:
            raise too_big()
    return bytes(buffer)


async def _spool_part(part: Any, *, directory: Path, spooled: list[Path], limit: int,
                      too_big: Callable[[], ApiError]) -> tuple[Path, int]:
    """Write one body part to a new file in `directory` (added to `spooled`), stopping past `limit`.

    (path, size). File system calls run in a thread: a slow disk must not stall the event loop.
    """
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    descriptor, name = await asyncio.to_thread(tempfile.mkstemp, dir=directory, prefix="upload-")
    path = Path(name)
    spooled.append(path)
    size = 0
    with os.fdopen(descriptor, "wb") as file:
        while chunk := await part.read_chunk(SPOOL_CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise too_big()
            await asyncio.to_thread(file.write, chunk)
    return path, size


def _remove_files(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _listener(scope: Scope) -> IncomingMessage:
    """A message standing for "someone in this channel", to ask `visible_scopes` what it sees."""
    return IncomingMessage(platform=scope.platform, workspace=scope.workspace, channel=scope.channel,
                           thread="", user="api", text="")


def register(app: web.Application, teambot: "Teambot") -> None:
    """Add the `/api/v1` routes to the shared HTTP server."""
    from bot.openapi import openapi_spec  # noqa: PLC0415

    api = HttpApi(teambot)
    spec = openapi_spec()

    async def openapi(_: web.Request) -> web.Response:
        # Public on purpose: the description holds no data, and clients need it to learn the auth scheme.
        return web.json_response(spec)

    router = app.router
    router.add_post(f"{PREFIX}/ask", api.guarded(api.ask))
    router.add_post(f"{PREFIX}/documents", api.guarded(api.upload))
    router.add_get(f"{PREFIX}/documents", api.guarded(api.list_documents), allow_head=False)
    router.add_delete(f"{PREFIX}/documents/{{id}}", api.guarded(api.delete_document))
    router.add_get(f"{PREFIX}/threads/{{id}}/history", api.guarded(api.get_history), allow_head=False)
    router.add_delete(f"{PREFIX}/threads/{{id}}/history", api.guarded(api.delete_history))
    router.add_get(f"{PREFIX}/openapi.json", openapi, allow_head=False)
