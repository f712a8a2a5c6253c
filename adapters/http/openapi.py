"""The OpenAPI 3.1 description of `/api/v1`, served at `GET /api/v1/openapi.json`.

Generated: the schemas come from the pydantic models in `adapters.http.models` (the ones that
validate the requests and shape the responses), and the paths from `OPERATIONS`, the table the
routes are registered from (`adapters.http.app`). Only the prose is written here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from adapters.http import models

PREFIX = "/api/v1"
REF_TEMPLATE = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Response:
    description: str
    model: type[BaseModel] | None = None
    media: dict[str, Any] = field(default_factory=dict)
    """More media types of the body than the model's JSON (e.g. `text/event-stream`)."""


@dataclass(frozen=True)
class Operation:
    """One route: `app.py` registers `handler` (a method name of `HttpApi`) for it, this module describes it."""

    method: str
    path: str
    operation_id: str
    handler: str
    summary: str
    responses: dict[int, Response]
    description: str = ""
    body: type[BaseModel] | None = None
    body_media: str = "application/json"
    query: type[BaseModel] | None = None
    path_parameters: dict[str, Any] = field(default_factory=dict)
    """Path parameter -> the type its value is checked as."""
    public: bool = False
    """No bearer token needed."""


_COMMON_ERRORS = {
    400: Response("Missing or invalid field (one line).", models.Error),
    401: Response("Missing or wrong bearer token.", models.Error),
    503: Response("The API is disabled (no TEAMBOT_API_TOKEN) or a store is unavailable.", models.Error),
}

SSE_DESCRIPTION = (
    "With `stream: true` or `Accept: text/event-stream`: Server-Sent Events. `event: delta` with "
    "`data: {\"text\": \"...\"}` for each piece of the answer as the model writes it, then one final "
    "`event: reply` whose data is an AskResponse, or `event: error` with `{\"error\": \"...\", \"thread\": \"...\"}` "
    "when the model or a store failed, or the bot is restarting."
)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "post", f"{PREFIX}/ask", "ask", "ask",
        summary="Answer a question from the documents a channel can see, with citations.",
        description="Knowledge is limited to the channel's own documents and its workspace's workspace-wide "
                    "ones, enforced in the stores' queries. The turn is remembered in the thread's history.",
        body=models.AskRequest,
        responses={
            200: Response("The answer (JSON), or the answer streamed as Server-Sent Events.", models.AskResponse,
                          media={"text/event-stream": {"schema": {"type": "string", "description": SSE_DESCRIPTION}}}),
            **_COMMON_ERRORS,
            413: Response("The body is over 64 KiB (a question is at most 8000 characters).", models.Error),
            502: Response("The language model or a store failed; nothing was remembered.", models.ThreadError),
            503: Response("The API is disabled, a store is unavailable, or the bot is restarting "
                          "(shutdown cut the answer short; ask again after Retry-After seconds).", models.ThreadError),
        },
    ),
    Operation(
        "post", f"{PREFIX}/documents", "uploadDocuments", "upload",
        summary="Upload files into a channel's knowledge (`channel=*`: workspace-wide).",
        description="Each file is added, replaced (same name in the same scope) or rejected with a one-line "
                    "reason; a rejected file changes nothing. Files over TEAMBOT_MAX_UPLOAD_MB are refused while "
                    "they are read (413), and then nothing at all is stored.",
        body=models.UploadForm, body_media="multipart/form-data",
        responses={
            200: Response("At least one file was stored; per-file results.", models.UploadResponse),
            **_COMMON_ERRORS,
            413: Response("A file is over the upload limit; nothing was stored.", models.Error),
            422: Response("Every file was rejected; nothing was stored.", models.UploadRejected),
        },
    ),
    Operation(
        "get", f"{PREFIX}/documents", "listDocuments", "list_documents",
        summary="The documents a channel sees: its own and the workspace-wide ones.",
        query=models.ScopeQuery,
        responses={200: Response("The documents.", models.DocumentList), **_COMMON_ERRORS},
    ),
    Operation(
        "delete", f"{PREFIX}/documents/{{id}}", "deleteDocument", "delete_document",
        summary="Delete a document by id (or file name) that this channel manages: its own, or a "
                "workspace-wide one.",
        query=models.ScopeQuery, path_parameters={"id": models.DocumentId},
        responses={
            200: Response("The deleted document.", models.Deleted),
            **_COMMON_ERRORS,
            404: Response("No such document here (or the name is ambiguous: use its id).", models.Error),
        },
    ),
    Operation(
        "get", f"{PREFIX}/threads/{{id}}/history", "getHistory", "get_history",
        summary="A thread's remembered turns, oldest first.",
        query=models.ScopeQuery, path_parameters={"id": models.ThreadId},
        responses={200: Response("The turns (empty for an unknown thread).", models.History), **_COMMON_ERRORS},
    ),
    Operation(
        "delete", f"{PREFIX}/threads/{{id}}/history", "deleteHistory", "delete_history",
        summary="Forget a thread's history.",
        query=models.ScopeQuery, path_parameters={"id": models.ThreadId},
        responses={200: Response("Forgotten.", models.HistoryCleared), **_COMMON_ERRORS},
    ),
    Operation(
        "get", f"{PREFIX}/feedback", "listFeedback", "list_feedback",
        summary="The 👍/👎 votes on answers, newest first, each with the answer it rates.",
        description="For admins (the token is trusted like one): every workspace, or one with `platform` and "
                    "`workspace`. Each vote has its reason (after a 👎), a link to the rated message, and the "
                    "answer: question, text, cited documents and passages, where it was asked. People appear "
                    "as pseudonyms only.",
        query=models.FeedbackQuery,
        responses={200: Response("The votes.", models.FeedbackList), **_COMMON_ERRORS},
    ),
    Operation(
        "post", f"{PREFIX}/answers/{{id}}/feedback", "rateAnswer", "rate_answer",
        summary="Rate an answer 👍 (`up`) or 👎 (`down`, optionally with what was wrong), as chat's buttons do.",
        description="`id` is the `answer_id` `POST /ask` returned; the query names the channel it was asked in. "
                    "The vote is stored with the answer (the voter as a pseudonym) and counted in the usage "
                    "reports, once per person: a second vote changes nothing (409). An answer asked in another "
                    "channel is not found here, like one never given or too old to rate.",
        query=models.ScopeQuery, path_parameters={"id": models.AnswerId}, body=models.VoteRequest,
        responses={
            200: Response("The stored vote, with the answer it rates.", models.FeedbackVote),
            **_COMMON_ERRORS,
            404: Response("No such answer in this channel (or too old to rate).", models.Error),
            409: Response("This user already rated this answer; nothing changed.", models.Error),
            413: Response("The body is over 4 KiB.", models.Error),
        },
    ),
    Operation(
        "get", f"{PREFIX}/openapi.json", "openapi", "openapi",
        summary="This description (no token needed).", public=True,
        responses={200: Response("OpenAPI 3.1 document.",
                                 media={"application/json": {"schema": {"type": "object"}}})},
    ),
)


class _Schemas(GenerateJsonSchema):
    """Pydantic's JSON Schema without a title on every property (the property's name says it)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def _schemas() -> dict[str, Any]:
    used = {op.body for op in OPERATIONS} | {op.query for op in OPERATIONS} | {
        response.model for op in OPERATIONS for response in op.responses.values()}
    # Validation mode for all: the response models' serializers keep their types (times stay date-time).
    _, schemas = models_json_schema([(model, "validation") for model in sorted(
        (m for m in used if m is not None), key=lambda m: m.__name__)],
        ref_template=REF_TEMPLATE, schema_generator=_Schemas)
    definitions: dict[str, Any] = schemas.get("$defs", {})
    return definitions


def _parameters(op: Operation, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    parameters = [
        {"name": name, "in": "path", "required": True,
         "schema": TypeAdapter(kind).json_schema(ref_template=REF_TEMPLATE, schema_generator=_Schemas)}
        for name, kind in op.path_parameters.items()
    ]
    if op.query is not None:
        query = schemas[op.query.__name__]
        parameters += [
            {"name": name, "in": "query", "required": name in query.get("required", ()), "schema": schema}
            for name, schema in query["properties"].items()
        ]
    return parameters


def _response(response: Response) -> dict[str, Any]:
    content = {"application/json": {"schema": _ref(response.model)}} if response.model is not None else {}
    content.update(response.media)
    return {"description": response.description, "content": content}


def _operation(op: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    described: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary}
    if op.description:
        described["description"] = op.description
    if op.public:
        described["security"] = []
    parameters = _parameters(op, schemas)
    if parameters:
        described["parameters"] = parameters
    if op.body is not None:
        described["requestBody"] = {"required": True, "content": {op.body_media: {"schema": _ref(op.body)}}}
    described["responses"] = {str(status): _response(response) for status, response in sorted(op.responses.items())}
    return described


def _version() -> str:
    try:
        return version("teambot")
    except PackageNotFoundError:
        return "0"


def openapi_document() -> dict[str, Any]:
    """The description, built afresh (callers may change their copy)."""
    schemas = _schemas()
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "teambot HTTP API",
            "version": _version(),
            "description": "Ask questions over a team's documents, manage the documents and thread history. "
                           "Every endpoint except this description needs `Authorization: Bearer "
                           "<TEAMBOT_API_TOKEN>`. Errors are `{\"error\": \"one line\"}`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
