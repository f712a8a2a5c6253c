"""The HTTP adapter: the aiohttp application `teambot serve` runs, and the API under `/api/v1`.

    web_app = create_web_app(core, readiness=..., metrics=...)   # called once by the wiring

The application serves `/healthz`, `/readyz`, `/metrics` and the API; the Slack adapter adds its
`/slack/events` route to it in HTTP mode (the wiring hands it the same application).

Every API endpoint except `GET /api/v1/openapi.json` needs `Authorization: Bearer
<TEAMBOT_API_TOKEN>`; with no token configured the API answers 503. Requests are validated by the
pydantic models in `models.py`; errors are one JSON line, `{"error": "..."}`, and nothing is stored
when a request fails validation. The API goes through the command service like every chat platform:
answers are scoped as in chat, documents are listed, deleted and ingested by `bot.commands`.

The token is an integration's credential, trusted like an admin: it may ask, upload and delete in
any workspace and channel it names, including the workspace-wide scope (`channel: "*"`), list
the votes on answers (`GET /api/v1/feedback`), and rate an answer given in the channel it names
(`POST /api/v1/answers/{id}/feedback`; an answer of another channel is not found).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError
from redis.exceptions import RedisError

from adapters.base import CollectingStream
from adapters.http import models, translate
from adapters.http.errors import ApiError, error_response, json_response
from adapters.http.health import MetricsText, Readiness, SharedReadiness, register_health
from adapters.http.multipart import FileLimit, read_form, remove_files
from adapters.http.openapi import OPERATIONS, openapi_document
from adapters.http.sse import SseReplyStream
from bot.commands import Deletion, DocumentList
from bot.core.errors import StoreUnavailable
from bot.core.ports import BotCore, ReplyStream
from bot.core.values import IncomingMessage, Reply, conversation_key
from bot.dispatcher import SHUTTING_DOWN, SHUTTING_DOWN_ERROR
from bot.httpbody import BodyTooLarge, read_body

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
"""aiohttp's cap on `request.read()`: no route reads a whole body that way (uploads stream part by part,
the others read with their own smaller bounds); it guards any route added later."""
MAX_ASK_BODY_BYTES = 64 * 1024
"""An ask body: a question of at most 8000 characters (6 bytes each, JSON-escaped) and a few short names."""
MAX_VOTE_BODY_BYTES = 4 * 1024
"""A vote body: a vote, a reason and a user name."""
SPOOL_DIRECTORY = "uploads-in-progress"
"""Under the data dir: uploaded files while their request is handled (removed when it ends)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Body = TypeVar("Body", bound=BaseModel)

_DOCUMENT_ID = TypeAdapter(models.DocumentId)
_THREAD_ID = TypeAdapter(models.ThreadId)
_ANSWER_ID = TypeAdapter(models.AnswerId)
# How a command's failure reads over HTTP: the request named nothing there, may not, or a store (or we) failed.
_FAILURE_STATUS = {"not_found": 404, "denied": 403, "conflict": 409, "unavailable": 503, "internal": 500}


def _query(request: web.Request) -> models.ScopeQuery:
    """The channel the request acts in, from `?workspace=&channel=[&platform=]`."""
    try:
        return models.ScopeQuery.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ApiError(400, models.one_line(exc, field_kind="query parameter")) from None


def _path_value(request: web.Request, adapter: TypeAdapter[str]) -> str:
    try:
        return adapter.validate_python(request.match_info["id"])
    except ValidationError as exc:
        raise ApiError(400, models.one_line(exc, subject="id")) from None


class HttpApi:
    """The `/api/v1` handlers; one instance per web application."""

    def __init__(self, core: BotCore) -> None:
        self.core = core
        settings = core.settings
        token = settings.api_token
        self._token = token.get_secret_value().encode() if token is not None else None
        self._spool_dir: Path = settings.data_dir / SPOOL_DIRECTORY
        self._file_limit = FileLimit(max_bytes=settings.max_upload_bytes, megabytes=settings.max_upload_mb)
        self._description = openapi_document()
        # Files spooled by requests a crash or kill interrupted would otherwise stay on disk for good.
        shutil.rmtree(self._spool_dir, ignore_errors=True)

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
            except Exception as exc:  # a client gets one line, the log gets the trace
                log.exception("API request failed")
                return error_response(500, f"internal error ({type(exc).__name__})")

        guarded_handler.__doc__ = handler.__doc__
        return guarded_handler

    @staticmethod
    async def _json_body(request: web.Request, model: type[Body], *, limit: int) -> Body:
        """The request's JSON body, read within `limit` bytes and validated as `model`."""
        try:
            raw = await read_body(request, limit=limit)
        except BodyTooLarge as exc:
            raise ApiError(413, str(exc)) from None
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            raise ApiError(400, models.one_line(exc)) from None

    # --- ask ---

    async def ask(self, request: web.Request) -> web.StreamResponse:
        """Answer a question in a channel (JSON, or Server-Sent Events when streaming)."""
        ask = await self._json_body(request, models.AskRequest, limit=MAX_ASK_BODY_BYTES)
        # A new conversation gets a fresh thread id; the client sends it back to follow up.
        thread = ask.thread or translate.new_thread()
        message = translate.ask_message(ask, thread=thread)
        if ask.stream or "text/event-stream" in request.headers.get("Accept", ""):
            return await self._ask_streamed(request, message)
        reply = await self._answer(message, CollectingStream())
        if reply.mode == "error" and reply.error == SHUTTING_DOWN_ERROR:
            return error_response(503, models.ThreadError(error=SHUTTING_DOWN, thread=thread),
                                  headers={"Retry-After": "60"})
        if reply.mode == "error":
            # The model or a store failed; the turn was not saved. Say why, in one line.
            return error_response(502, models.ThreadError(error=reply.error or "the answer failed", thread=thread))
        return json_response(translate.answer(reply, thread=thread))

    async def _answer(self, message: IncomingMessage, stream: ReplyStream) -> Reply:
        """The core's reply; an answer that shutdown cut short is a "restarting" error reply.

        On SIGTERM the dispatcher cancels answers still running after the grace period. The
        cancellation reaches this request through `await`, though the request itself is not
        cancelled: answering it (503, or a final SSE error) beats cutting the connection.
        """
        try:
            reply: Reply = await self.core.commands.ask(message, stream)
            return reply
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this request itself is being cancelled (the client left, or the server stopped)
            return Reply(text=SHUTTING_DOWN, answered=False, mode="error", error=SHUTTING_DOWN_ERROR)

    async def _ask_streamed(self, request: web.Request, message: IncomingMessage) -> web.StreamResponse:
        stream = SseReplyStream(request)
        reply = await self._answer(message, stream)
        if reply.mode == "error":
            error = SHUTTING_DOWN if reply.error == SHUTTING_DOWN_ERROR else reply.error or "the answer failed"
            await stream.send("error", models.ThreadError(error=error, thread=message.thread).model_dump())
        else:
            await stream.send("reply", translate.reply_json(reply, thread=message.thread))
        await stream.close()
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
            await asyncio.to_thread(remove_files, spooled)

    async def _read_form(self, request: web.Request, spooled: list[Path]) -> models.UploadForm:
        """Read every part before anything is stored (files spooled to disk), then validate the form."""
        fields, files = await read_form(request, spool_dir=self._spool_dir, spooled=spooled, limit=self._file_limit)
        if not files:
            raise ApiError(400, "no 'file' part in the form")
        try:
            return models.UploadForm.model_validate({**fields, "file": files})
        except ValidationError as exc:
            raise ApiError(400, models.one_line(exc, field_kind="form field")) from None

    async def _upload_spooled(self, request: web.Request, spooled: list[Path]) -> web.Response:
        form = await self._read_form(request, spooled)
        if form.url is not None and len(form.file) > 1:
            raise ApiError(400, "'url' names one document: send one file with it")
        files = [replace(file, source_url=form.url) for file in form.file] if form.url is not None else form.file
        # The HTTP API is a trusted caller: no per-user permission check.
        outcomes = await self.core.commands.ingest(files, scope=translate.scope_of(form), uploader=form.uploader,
                                                   note=form.note)
        results = translate.file_results(outcomes)
        if all(outcome.result is None for outcome in outcomes):
            first = outcomes[0]
            return error_response(422, models.UploadRejected(
                error=f"no file was added: {first.name}: {first.error}", results=results))
        return json_response(models.UploadResponse(results=results))

    async def list_documents(self, request: web.Request) -> web.Response:
        """Documents the channel sees: its own and the workspace-wide ones."""
        listing: DocumentList = await self.core.commands.list_documents(translate.place_message(_query(request)))
        if listing.error is not None:
            raise ApiError(_FAILURE_STATUS[listing.failure or "internal"], listing.error)
        return json_response(models.DocumentList(documents=[translate.document(d) for d in listing.documents]))

    async def delete_document(self, request: web.Request) -> web.Response:
        """Delete a document (by id, or file name) the channel manages: its own, or a workspace-wide one."""
        place = translate.place_message(_query(request))
        reference = _path_value(request, _DOCUMENT_ID)
        # Trusted like an admin, as the token is (see the module's docstring).
        deletion: Deletion = await self.core.commands.delete(place, reference, trusted=True)
        if deletion.document is None:
            raise ApiError(_FAILURE_STATUS[deletion.failure or "internal"], deletion.error or "not deleted")
        return json_response(models.Deleted(deleted=translate.document(deletion.document)))

    # --- thread history ---

    def _conversation(self, request: web.Request) -> tuple[str, str]:
        """(thread id, conversation key) of the thread the request names."""
        place = _query(request)
        thread = _path_value(request, _THREAD_ID)
        return thread, conversation_key(place.platform, place.workspace, place.channel, thread)

    async def get_history(self, request: web.Request) -> web.Response:
        """The thread's remembered turns, oldest first."""
        thread, key = self._conversation(request)
        return json_response(translate.history(thread, await self.core.commands.history(key)))

    async def delete_history(self, request: web.Request) -> web.Response:
        """Forget the thread: its next question starts a new conversation."""
        thread, key = self._conversation(request)
        await self.core.commands.forget(key)
        return json_response(models.HistoryCleared(thread=thread, cleared=True))

    # --- feedback ---

    async def list_feedback(self, request: web.Request) -> web.Response:
        """The votes on answers, with the answers they rate (the token is trusted like an admin)."""
        try:
            query = models.FeedbackQuery.model_validate(dict(request.query))
        except ValidationError as exc:
            raise ApiError(400, models.one_line(exc, field_kind="query parameter")) from None
        if (query.platform is None) != (query.workspace is None):
            raise ApiError(400, "'platform' and 'workspace' go together (a workspace is one platform's)")
        helpful = None if query.rating == "all" else query.rating == "helpful"
        votes = await self.core.commands.feedback_votes(days=query.days, platform=query.platform,
                                                        workspace=query.workspace, helpful=helpful)
        return json_response(models.FeedbackList(votes=[translate.feedback_vote(vote) for vote in votes]))

    async def rate_answer(self, request: web.Request) -> web.Response:
        """A 👍/👎 on an answer given in the channel the query names, once per person (as chat's buttons)."""
        place = _query(request)
        answer_id = _path_value(request, _ANSWER_ID)
        vote = await self._json_body(request, models.VoteRequest, limit=MAX_VOTE_BODY_BYTES)
        if vote.reason is not None and vote.vote == "up":
            raise ApiError(400, "'reason' goes with a 'down' vote only")
        rating = await self.core.commands.rate_answer(scope=translate.scope_of(place), user=vote.user,
                                                      answer_id=answer_id, helpful=vote.vote == "up",
                                                      reason=vote.reason)
        if rating.vote is None:
            raise ApiError(_FAILURE_STATUS[rating.failure or "internal"], rating.error or "not stored")
        return json_response(translate.feedback_vote(rating.vote))

    # --- the description ---

    async def openapi(self, _: web.Request) -> web.Response:
        """The OpenAPI description. Public on purpose: it holds no data, and clients need it to learn
        the auth scheme."""
        return web.json_response(self._description)


def register_api(app: web.Application, core: BotCore) -> HttpApi:
    """Add the `/api/v1` routes (`openapi.OPERATIONS`) to `app`."""
    api = HttpApi(core)
    for operation in OPERATIONS:
        handler: Handler = getattr(api, operation.handler)
        app.router.add_route(operation.method.upper(), operation.path,
                             handler if operation.public else api.guarded(handler))
    return api


def create_web_app(core: BotCore, *, readiness: Readiness, metrics: MetricsText) -> web.Application:
    """The shared aiohttp application: health, readiness, metrics and `/api/v1` (platforms add theirs).

    `/readyz` runs `readiness` one check at a time, its result reused for `TEAMBOT_READINESS_CACHE` seconds."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    register_health(app, readiness=SharedReadiness(readiness, ttl_s=core.settings.readiness_cache_s),
                    metrics=metrics)
    register_api(app, core)
    return app
