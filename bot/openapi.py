"""The OpenAPI 3.1 description of `/api/v1`, served at `GET /api/v1/openapi.json`.

Kept next to the handlers in `bot.api` and checked against the registered
routes by the tests, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import copy
from importlib.metadata import PackageNotFoundError, version
from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_NAME = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^:\\s]+$"}
_CHANNEL = {
    "type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^:\\s]+$",
    "description": "Channel id; `*` is the workspace-wide scope.",
}
_PLATFORM = {**_NAME, "default": "api",
             "description": "Whose ids these are: `api` (default), or e.g. `slack` to act in a Slack channel."}

_SCOPE_PARAMETERS = [
    {"name": "workspace", "in": "query", "required": True, "schema": _NAME},
    {"name": "channel", "in": "query", "required": True, "schema": _CHANNEL},
    {"name": "platform", "in": "query", "required": False, "schema": _PLATFORM},
]
_ID_PARAMETER = {"name": "id", "in": "path", "required": True,
                 "schema": {"type": "string", "minLength": 1, "maxLength": 200}}

_COMMON_ERRORS = {
    "400": _error("Missing or invalid field (one line)."),
    "401": _error("Missing or wrong bearer token."),
    "503": _error("The API is disabled (no TEAMBOT_API_TOKEN) or a store is unavailable."),
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "string", "description": "One line saying what is wrong."}},
    },
    "Scope": {
        "type": "object", "required": ["platform", "workspace", "channel"],
        "properties": {"platform": {"type": "string"}, "workspace": {"type": "string"},
                       "channel": {"type": "string"}},
    },
    "AskRequest": {
        "type": "object", "required": ["question", "workspace", "channel"], "additionalProperties": False,
        "properties": {
            "question": {"type": "string", "minLength": 1, "maxLength": 8000},
            "workspace": _NAME,
            "channel": _CHANNEL,
            "thread": {"type": "string", "minLength": 1, "maxLength": 200,
                       "description": "Continue this thread; omit to start a new one (its id is returned)."},
            "platform": _PLATFORM,
            "user": {**_NAME, "default": "api", "description": "Who asks, for usage statistics."},
            "stream": {"type": "boolean", "default": False,
                       "description": "Answer as Server-Sent Events (same as `Accept: text/event-stream`)."},
        },
    },
    "Citation": {
        "type": "object", "required": ["number", "source", "location", "snippet", "document_id"],
        "properties": {
            "number": {"type": "integer", "minimum": 1, "description": "The `[n]` used in the answer."},
            "source": {"type": "string", "description": "File name."},
            "location": {"type": "string", "description": "Page, section, rows or lines."},
            "snippet": {"type": "string"},
            "document_id": {"type": "string"},
        },
    },
    "AskResponse": {
        "type": "object", "required": ["answer", "citations", "thread", "answered", "mode"],
        "properties": {
            "answer": {"type": "string"},
            "citations": {"type": "array", "items": _ref("Citation"),
                          "description": "The sources the answer cites."},
            "consulted": {"type": "array", "items": _ref("Citation"),
                          "description": "Passages the model was given that the answer does not cite."},
            "thread": {"type": "string", "description": "Send it back as `thread` to follow up."},
            "answered": {"type": "boolean", "description": "False when the documents hold no answer."},
            "mode": {"type": "string", "enum": ["llm", "extractive", "none"]},
            "history_available": {"type": "boolean",
                                  "description": "False when thread history could not be read (Redis down)."},
        },
    },
    "Document": {
        "type": "object",
        "required": ["id", "source", "title", "scope", "workspace_wide", "uploader", "chunk_count", "size_bytes",
                     "ingested_at", "note"],
        "properties": {
            "id": {"type": "string"},
            "source": {"type": "string", "description": "File name."},
            "title": {"type": "string"},
            "scope": _ref("Scope"),
            "workspace_wide": {"type": "boolean"},
            "uploader": {"type": "string"},
            "chunk_count": {"type": "integer", "minimum": 0},
            "size_bytes": {"type": "integer", "minimum": 0},
            "ingested_at": {"type": "string", "format": "date-time"},
            "note": {"type": "string"},
        },
    },
    "DocumentList": {
        "type": "object", "required": ["documents"],
        "properties": {"documents": {"type": "array", "items": _ref("Document")}},
    },
    "FileResult": {
        "type": "object", "required": ["file", "status"],
        "properties": {
            "file": {"type": "string"},
            "status": {"type": "string", "enum": ["added", "replaced", "unchanged", "rejected"]},
            "document": _ref("Document"),
            "error": {"type": "string", "description": "Why a rejected file was refused (one line)."},
        },
    },
    "UploadResponse": {
        "type": "object", "required": ["results"],
        "properties": {"results": {"type": "array", "items": _ref("FileResult")}},
    },
    "UploadRejected": {
        "type": "object", "required": ["error", "results"],
        "properties": {"error": {"type": "string"}, "results": {"type": "array", "items": _ref("FileResult")}},
    },
    "UploadForm": {
        "type": "object", "required": ["file", "workspace", "channel"],
        "properties": {
            "file": {"type": "array", "maxItems": 10,
                     "items": {"type": "string", "contentMediaType": "application/octet-stream"},
                     "description": "One part per file, each with a filename (PDF, DOCX, Markdown, HTML, text, CSV)."},
            "workspace": _NAME,
            "channel": _CHANNEL,
            "platform": _PLATFORM,
            "note": {"type": "string", "maxLength": 4096},
            "uploader": {**_NAME, "default": "api"},
        },
    },
    "Turn": {
        "type": "object", "required": ["question", "answer", "at"],
        "properties": {"question": {"type": "string"}, "answer": {"type": "string"},
                       "at": {"type": "string", "format": "date-time"}},
    },
    "History": {
        "type": "object", "required": ["thread", "turns"],
        "properties": {"thread": {"type": "string"}, "turns": {"type": "array", "items": _ref("Turn")}},
    },
    "HistoryCleared": {
        "type": "object", "required": ["thread", "cleared"],
        "properties": {"thread": {"type": "string"}, "cleared": {"type": "boolean"}},
    },
    "Deleted": {
        "type": "object", "required": ["deleted"], "properties": {"deleted": _ref("Document")},
    },
}

_SSE_DESCRIPTION = (
    "With `stream: true` or `Accept: text/event-stream`: Server-Sent Events. `event: delta` with "
    "`data: {\"text\": \"...\"}` for each piece of the answer as the model writes it, then one final "
    "`event: reply` whose data is an AskResponse, or `event: error` with `{\"error\": \"...\", \"thread\": \"...\"}` "
    "when the model or a store failed, or the bot is restarting."
)

_PATHS: dict[str, Any] = {
    "/api/v1/ask": {
        "post": {
            "operationId": "ask",
            "summary": "Answer a question from the documents a channel can see, with citations.",
            "description": "Knowledge is limited to the channel's own documents and its workspace's "
                           "workspace-wide ones, enforced in the stores' queries. The turn is remembered "
                           "in the thread's history.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("AskRequest")}}},
            "responses": {
                "200": {
                    "description": "The answer (JSON), or the answer streamed as Server-Sent Events.",
                    "content": {
                        "application/json": {"schema": _ref("AskResponse")},
                        "text/event-stream": {"schema": {"type": "string", "description": _SSE_DESCRIPTION}},
                    },
                },
                **_COMMON_ERRORS,
                "413": _error("The body is over 64 KiB (a question is at most 8000 characters)."),
                "502": _json({"allOf": [_ref("Error"), {"type": "object",
                                                        "properties": {"thread": {"type": "string"}}}]},
                             "The language model or a store failed; nothing was remembered."),
                "503": _json({"allOf": [_ref("Error"), {"type": "object",
                                                        "properties": {"thread": {"type": "string"}}}]},
                             "The API is disabled, a store is unavailable, or the bot is restarting "
                             "(shutdown cut the answer short; ask again after Retry-After seconds)."),
            },
        },
    },
    "/api/v1/documents": {
        "post": {
            "operationId": "uploadDocuments",
            "summary": "Upload files into a channel's knowledge (`channel=*`: workspace-wide).",
            "description": "Each file is added, replaced (same name in the same scope) or rejected with a "
                           "one-line reason; a rejected file changes nothing. Files over TEAMBOT_MAX_UPLOAD_MB "
                           "are refused while they are read (413), and then nothing at all is stored.",
            "requestBody": {"required": True,
                            "content": {"multipart/form-data": {"schema": _ref("UploadForm")}}},
            "responses": {
                "200": _json(_ref("UploadResponse"), "At least one file was stored; per-file results."),
                **_COMMON_ERRORS,
                "413": _error("A file is over the upload limit; nothing was stored."),
                "422": _json(_ref("UploadRejected"), "Every file was rejected; nothing was stored."),
            },
        },
        "get": {
            "operationId": "listDocuments",
            "summary": "The documents a channel sees: its own and the workspace-wide ones.",
            "parameters": _SCOPE_PARAMETERS,
            "responses": {"200": _json(_ref("DocumentList"), "The documents."), **_COMMON_ERRORS},
        },
    },
    "/api/v1/documents/{id}": {
        "delete": {
            "operationId": "deleteDocument",
            "summary": "Delete a document stored in exactly this channel's scope.",
            "parameters": [_ID_PARAMETER, *_SCOPE_PARAMETERS],
            "responses": {
                "200": _json(_ref("Deleted"), "The deleted document."),
                **_COMMON_ERRORS,
                "404": _error("No document with this id in this scope."),
            },
        },
    },
    "/api/v1/threads/{id}/history": {
        "get": {
            "operationId": "getHistory",
            "summary": "A thread's remembered turns, oldest first.",
            "parameters": [_ID_PARAMETER, *_SCOPE_PARAMETERS],
            "responses": {"200": _json(_ref("History"), "The turns (empty for an unknown thread)."),
                          **_COMMON_ERRORS},
        },
        "delete": {
            "operationId": "deleteHistory",
            "summary": "Forget a thread's history.",
            "parameters": [_ID_PARAMETER, *_SCOPE_PARAMETERS],
            "responses": {"200": _json(_ref("HistoryCleared"), "Forgotten."), **_COMMON_ERRORS},
        },
    },
    "/api/v1/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This description (no token needed).",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1 document.",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        },
    },
}


def _version() -> str:
    try:
        return version("teambot")
    except PackageNotFoundError:
        return "0"


def openapi_spec() -> dict[str, Any]:
    """A fresh copy of the description (callers may not mutate the shared one)."""
    return copy.deepcopy({
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
        "paths": _PATHS,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
