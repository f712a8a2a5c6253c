"""What `/api/v1` takes and returns, as pydantic models: requests are validated with them, responses
built from them, and the OpenAPI description (`adapters.http.openapi`) is generated from them.

Requests are strict (a string is a string, `"yes"` is no boolean) and refuse unknown fields, so a
typo is an error instead of a silently ignored field. `one_line(error, ...)` turns a validation
error into the one-line reason the client gets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from bot.core.labels import MAX_NAME_CHARS, clean_label
from bot.core.links import MAX_URL_CHARS, safe_url
from bot.core.values import Attachment
from bot.feedback import Reason

DEFAULT_PLATFORM = "api"
DEFAULT_USER = "api"
MAX_QUESTION_CHARS = 8000
MAX_FILES_PER_UPLOAD = 10
MAX_FIELD_BYTES = 4096
"""Text fields of an upload (workspace, channel, note, uploader) are short; a bigger one is refused."""
MAX_FILENAME_CHARS = MAX_NAME_CHARS
"""The longest file name taken: what file systems allow, and it is shown in every listing and citation."""

# Names end up inside scope and conversation keys joined by ':', so they may not contain one
# (otherwise workspace "a:b" + channel "c" and workspace "a" + channel "b:c" would collide).
# Nor control or invisible characters: "W\u200b" would be a scope of its own that reads exactly like "W".
_INVISIBLE = r"\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
NAME_PATTERN = rf"^[^:\s{_INVISIBLE}]+$"
THREAD_PATTERN = rf"^[^\s{_INVISIBLE}]+$"
ANSWER_ID_PATTERN = r"^[0-9A-Za-z]+$"
_PATTERN_RULES = {NAME_PATTERN: "may not contain ':', spaces or control characters",
                  THREAD_PATTERN: "may not contain spaces or control characters",
                  ANSWER_ID_PATTERN: "is not an answer id (letters and digits)"}

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NAME_PATTERN)]
Channel = Annotated[Name, Field(description="Channel id; `*` is the workspace-wide scope.")]
Platform = Annotated[Name, Field(
    description="Whose ids these are: `api` (default), or e.g. `slack` to act in a Slack channel.")]
ThreadId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=THREAD_PATTERN)]
DocumentId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS)]
"""A document's id, or its file name (which may be as long as any stored name)."""
AnswerId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ANSWER_ID_PATTERN)]
"""An answer's `answer_id`, as `POST /ask` returned it."""
Timestamp = Annotated[datetime, PlainSerializer(lambda moment: moment.isoformat(), return_type=str)]
"""A UTC time, written as `datetime.isoformat()` gives it (`...+00:00`)."""


def _web_address(value: str) -> str:
    if safe_url(value) is None:
        raise PydanticCustomError("url_invalid", "not an http or https URL")
    return value


DocumentUrl = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_URL_CHARS),
                        AfterValidator(_web_address), Field(
    description="Where the document lives (`http` or `https`): citations of it link there.")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- requests -------------------------------------------------------------------------------------------------


class AskRequest(_Request):
    """A question asked in a channel."""

    # The pattern says "not only spaces" in the description too (which cannot say "stripped first").
    question: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS,
                                               pattern=r"\S")]
    workspace: Name
    channel: Channel
    thread: Annotated[ThreadId | None, Field(
        description="Continue this thread; omit to start a new one (its id is returned).")] = None
    platform: Platform = DEFAULT_PLATFORM
    user: Annotated[Name, Field(description="Who asks, for usage statistics.")] = DEFAULT_USER
    stream: Annotated[bool, Field(
        description="Answer as Server-Sent Events (same as `Accept: text/event-stream`).")] = False


class VoteRequest(_Request):
    """A 👍 (`up`) or 👎 (`down`) on an answer, as the chat platforms' buttons give it."""

    vote: Literal["up", "down"]
    reason: Annotated[Reason | None, Field(
        description="What was wrong, with a `down` vote only (the choices chat offers after a 👎).")] = None
    user: Annotated[Name, Field(
        description="Who votes: one vote per person per answer; kept as a pseudonym.")] = DEFAULT_USER


class ScopeQuery(_Request):
    """`?workspace=&channel=[&platform=]`: the channel a request acts in."""

    workspace: Name
    channel: Channel
    platform: Platform = DEFAULT_PLATFORM


class FeedbackQuery(_Request):
    """`?days=&rating=[&platform=&workspace=]`: which votes to list."""

    days: Annotated[int, Field(strict=False, ge=1, le=400,
                               description="How many days back, today included (in REPORT_TIMEZONE).")] = 7
    rating: Annotated[Literal["helpful", "not_helpful", "all"], Field(
        description="Only 👍 (`helpful`) or 👎 (`not_helpful`) votes.")] = "all"
    platform: Annotated[Name | None, Field(description="With `workspace`: only that workspace's votes.")] = None
    workspace: Annotated[Name | None, Field(description="A Slack team or Discord server id (with `platform`).")] = None


def _spooled_file(value: object) -> Attachment:
    if not isinstance(value, Attachment):
        raise ValueError("not a file part")
    return value


UploadedFile = Annotated[Attachment, PlainValidator(_spooled_file), PlainSerializer(lambda file: file.name),
                         WithJsonSchema(
    {"type": "string", "contentMediaType": "application/octet-stream"})]
"""A `file` part, spooled to disk while the form was read: a file's bytes, in the form's schema."""


class UploadForm(_Request):
    """A `multipart/form-data` upload: its text fields, and the files spooled while it was read."""

    workspace: Name
    channel: Channel
    platform: Platform = DEFAULT_PLATFORM
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_FIELD_BYTES)] = ""
    uploader: Name = DEFAULT_USER
    url: Annotated[DocumentUrl | None, Field(description=(
        "Where the document lives (`http` or `https`), for one file only: citations of it link there."))] = None
    file: Annotated[list[UploadedFile], Field(
        min_length=1, max_length=MAX_FILES_PER_UPLOAD,
        description="One part per file, each with a filename (PDF, DOCX, Markdown, HTML, text, CSV).")]

    @classmethod
    def text_fields(cls) -> frozenset[str]:
        """The names of the text parts a form may carry (every field but the files)."""
        return frozenset(name for name in cls.model_fields if name != "file")


# --- responses ------------------------------------------------------------------------------------------------


def _single_line(text: str) -> str:
    return " ".join(text.split())


class Error(_Response):
    error: Annotated[str, AfterValidator(_single_line), Field(description="One line saying what is wrong.")]


class ThreadError(Error):
    thread: Annotated[str, Field(description="The thread the question was asked in.")]


class Scope(_Response):
    platform: str
    workspace: str
    channel: str


class Citation(_Response):
    number: Annotated[int, Field(ge=1, description="The `[n]` used in the answer.")]
    source: Annotated[str, Field(description="File name.")]
    location: Annotated[str, Field(description="Page, section, rows or lines.")]
    snippet: str
    document_id: str
    url: Annotated[str | None, Field(description="Where the document lives (http or https), if known.")] = None
    updated_at: Annotated[Timestamp | None, Field(description="When the document last changed, if known.")] = None


class AskResponse(_Response):
    answer: str
    citations: Annotated[list[Citation], Field(description="The sources the answer cites.")]
    consulted: Annotated[list[Citation], Field(
        description="Passages the model was given that the answer does not cite.")]
    thread: Annotated[str, Field(description="Send it back as `thread` to follow up.")]
    answered: Annotated[bool, Field(description="False when the documents hold no answer.")]
    mode: Literal["llm", "extractive", "none"]
    history_available: Annotated[bool, Field(
        description="False when thread history could not be read (Redis down).")]
    answer_id: Annotated[str | None, Field(description=(
        "Rate the answer with `POST /api/v1/answers/{answer_id}/feedback` (in the channel it was asked in)."))] = None


class Document(_Response):
    id: str
    source: Annotated[str, Field(description="File name.")]
    title: str
    scope: Scope
    workspace_wide: bool
    uploader: str
    chunk_count: Annotated[int, Field(ge=0)]
    size_bytes: Annotated[int, Field(ge=0)]
    ingested_at: Timestamp
    note: str
    url: Annotated[str | None, Field(description="Where the document lives (http or https), if known.")] = None


class DocumentList(_Response):
    documents: list[Document]


class Deleted(_Response):
    deleted: Document


class FileResult(_Response):
    file: str
    status: Literal["added", "replaced", "unchanged", "rejected"]
    document: Document | None = None
    error: Annotated[str | None, Field(description="Why a rejected file was refused (one line).")] = None


class UploadResponse(_Response):
    results: list[FileResult]


class UploadRejected(Error):
    results: list[FileResult]


class Turn(_Response):
    question: str
    answer: str
    at: Timestamp


class History(_Response):
    thread: str
    turns: list[Turn]


class HistoryCleared(_Response):
    thread: str
    cleared: bool


class CitedPassage(_Response):
    number: Annotated[int, Field(ge=1, description="The `[n]` used in the answer.")]
    source: Annotated[str, Field(description="File name.")]
    location: Annotated[str, Field(description="Page, section, rows or lines.")]
    document_id: str
    chunk_id: Annotated[str, Field(description="The passage cited.")]


class RatedAnswer(_Response):
    id: str
    scope: Scope
    thread: str
    visibility: Annotated[Literal["public", "private", "private_thread", "unknown"], Field(
        description="Who can read where it was asked, as far as the platform said.")]
    asker: Annotated[str, Field(description="A pseudonym (a hash), as in all usage data.")]
    question: str
    answer: Annotated[str, Field(description="The answer's text (its first 4000 characters).")]
    mode: str
    answered: bool
    answered_at: Timestamp
    citations: list[CitedPassage]


class FeedbackVote(_Response):
    rating: Literal["helpful", "not_helpful"]
    reason: Annotated[Reason | None, Field(
        description="What was wrong, as the voter picked it after a 👎 (optional).")] = None
    voter: Annotated[str, Field(description="A pseudonym (a hash), as in all usage data.")]
    voted_at: Timestamp
    link: Annotated[str | None, Field(description="The rated message on its platform, when known.")] = None
    answer: RatedAnswer


class FeedbackList(_Response):
    votes: Annotated[list[FeedbackVote], Field(description="Newest first.")]


# --- validation errors, in one line ------------------------------------------------------------------------------


MAX_ECHOED_NAME_CHARS = 64
"""Of a field name an error repeats: enough for any of ours, not a client's kilobytes."""


def one_line(error: ValidationError, *, field_kind: str = "field", subject: str | None = None) -> str:
    """The first thing wrong in `error`, as one line for the client.

    `field_kind` names what the fields are ("field", "query parameter", "form field"); `subject`
    names a value validated on its own (a path parameter), which has no field name.
    """
    first = error.errors(include_url=False)[0]
    kind, context = first["type"], first.get("ctx") or {}
    if not first["loc"] and subject is None:  # the body as a whole
        if kind == "json_invalid" and "recursion limit" in str(context.get("error", "")):
            return "the body is nested too deeply to be a JSON object we take"
        return "the body must be a JSON object"
    # A field's name may be the client's own (an unknown key): echoed printable and short.
    name = clean_label(".".join(str(part) for part in first["loc"]) or str(subject), max_chars=MAX_ECHOED_NAME_CHARS)
    messages = {
        "missing": f"'{name}' is required",
        "extra_forbidden": f"unknown {field_kind} '{name}'",
        "string_type": f"'{name}' must be a string",
        "bool_type": f"'{name}' must be true or false",
        "int_parsing": f"'{name}' must be a whole number",
        "greater_than_equal": f"'{name}' must be at least {context.get('ge')}",
        "less_than_equal": f"'{name}' must be at most {context.get('le')}",
        "literal_error": f"'{name}' must be {context.get('expected')}",
        "string_too_short": f"'{name}' is required (a non-empty string)",
        "string_too_long": f"'{name}' is longer than {context.get('max_length')} characters",
        "string_pattern_mismatch": f"'{name}' {_PATTERN_RULES.get(context.get('pattern', ''), 'is not valid')}",
        "too_short": f"'{name}' needs at least {context.get('min_length')} of them",
        "too_long": f"'{name}' takes at most {context.get('max_length')} of them",
        "url_invalid": f"'{name}' must be an http:// or https:// URL",
    }
    return _single_line(messages.get(kind, f"'{name}': {first['msg']}"))
