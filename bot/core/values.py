"""Plain values every layer passes around: what adapters turn platform payloads into, what the
agent answers with, and what the stores list.

Past an adapter's translate module nothing knows which chat platform a message came from,
except through these values.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from bot.core.links import safe_url, updated_ago

WORKSPACE_WIDE = "*"
"""Channel value of knowledge visible in every channel of a workspace."""

Visibility = Literal["public", "private", "private_thread", "unknown"]
"""Who can read where a message was sent, as far as the platform says (usage reports name only what their
readers can see): `public` every member of the workspace, `private` the channel's members (private channels,
DMs), `private_thread` only some of the channel's members, `unknown` not said (treated as private)."""

ReplyMode = Literal["llm", "extractive", "none", "error"]
"""How an answer was made: by the model, quoted from the passages without one, none found, or failed."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a document lives: one channel of one workspace on one platform.

    `channel == WORKSPACE_WIDE` is the workspace-wide scope.
    """

    platform: str
    workspace: str
    channel: str

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.workspace}:{self.channel}"

    def workspace_wide(self) -> Scope:
        return Scope(self.platform, self.workspace, WORKSPACE_WIDE)


@dataclass(frozen=True, slots=True)
class Actor:
    """Someone acting on a platform, with their roles there (Discord roles; empty elsewhere)."""

    platform: str
    user: str
    roles: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came with a message. `data` is filled by the adapter once downloaded.

    Or `path` names a local file holding it (the HTTP API spools uploads to disk, so a
    request's files are read into memory one at a time, while each is ingested).
    """

    name: str
    data: bytes | None = None
    url: str | None = None
    size: int | None = None
    mime_type: str | None = None
    path: Path | None = None
    source_url: str | None = None
    """Where people open the file (Slack's permalink, a document's URL): what citations link to.
    Not `url`, which is where the adapter downloads it from."""


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """One message of the thread a question is asked in, written by someone else than the bot.

    Adapters fill these from the platform (Slack's `conversations.replies`), cleaned and bounded: the
    agent reads them as a source beside the documents, and "summarize this thread" answers from them.
    """

    author: str
    """Who wrote it, as the platform names them (a display name, or the user id when none is known)."""
    text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message addressed to the bot, free of platform specifics."""

    platform: str
    workspace: str
    channel: str
    thread: str
    user: str
    text: str
    attachments: tuple[Attachment, ...] = ()
    is_dm: bool = False
    mentions_bot: bool = False
    event_id: str | None = None
    roles: tuple[str, ...] = ()
    """The sender's roles on the platform (Discord role ids and names), for permissions."""
    visibility: Visibility = "unknown"
    """Who can read the channel (or thread) the message was sent in; DMs are private whatever this says."""
    workspace_is_real: bool = True
    """False where the platform puts the conversation in no workspace of its own (every Discord DM is in
    the shared `dm` workspace): that workspace's other channels are strangers' conversations."""
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    thread_messages: tuple[ThreadMessage, ...] = ()
    """The thread's root and other people's earlier replies, oldest first (empty outside a thread, or when
    the platform could not be read): context for the question, weighed like the documents."""

    @property
    def conversation_key(self) -> str:
        """`platform:workspace:channel:thread`, the name of one thread everywhere."""
        return conversation_key(self.platform, self.workspace, self.channel, self.thread)

    @property
    def scope(self) -> Scope:
        return Scope(self.platform, self.workspace, self.channel)

    @property
    def actor(self) -> Actor:
        """The sender, for permission checks."""
        return Actor(self.platform, self.user, frozenset(self.roles))


def new_answer_id() -> str:
    """A fresh id for an answer, short enough for any platform's button ids (hex: no separator in it)."""
    return secrets.token_hex(10)


def conversation_key(platform: str, workspace: str, channel: str, thread: str) -> str:
    """Build the conversation key; the parts must not contain ':' themselves except the thread."""
    return f"{platform}:{workspace}:{channel}:{thread}"


@dataclass(frozen=True, slots=True)
class Citation:
    """A numbered source the answer relies on."""

    number: int
    source: str
    location: str
    snippet: str
    document_id: str
    title: str | None = None
    url: str | None = None
    """Where the document lives (its permalink or URL), if known: render it through `link`."""
    updated_at: float | None = None
    """When the document's content last changed (its ingestion time, epoch seconds), if known."""
    chunk_id: str = ""
    """The passage cited (its chunk's id), for feedback on answers; empty where it is not known."""

    def label(self) -> str:
        """`name (location)` or just `name`."""
        return f"{self.source} ({self.location})" if self.location else self.source

    @property
    def link(self) -> str | None:
        """The document's URL if it is safe to show as a link (`http`/`https` only, see `safe_url`)."""
        return safe_url(self.url)

    def freshness(self, *, now: float) -> str:
        """`updated N days ago` (or today, yesterday); empty when the document's time is unknown."""
        return updated_ago(self.updated_at, now=now) if self.updated_at is not None else ""

    def as_json(self) -> dict[str, object]:
        return {
            "number": self.number,
            "source": self.source,
            "location": self.location,
            "snippet": self.snippet,
            "document_id": self.document_id,
            "url": self.link,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class Reply:
    """The bot's finished answer to one message."""

    text: str
    citations: tuple[Citation, ...] = ()
    """The sources the answer cites."""
    answered: bool = True
    """False when the bot said it does not know (no relevant passage)."""
    mode: ReplyMode = "llm"
    """`llm`, `extractive`, `none` (nothing relevant found) or `error`."""
    error: str | None = None
    """One-line reason when the answer failed."""
    history_available: bool = True
    consulted: tuple[Citation, ...] = ()
    """Every passage the model was given, cited or not (numbered as in its prompt)."""
    answer_id: str | None = None
    """The id the answer is kept under for feedback (its 👍/👎 buttons carry it); None where it has none."""

    def sources_text(self) -> str:
        """Plain-text list of sources, one per line."""
        return "\n".join(f"[{c.number}] {c.label()}" for c in self.citations)

    @property
    def consulted_only(self) -> tuple[Citation, ...]:
        """Passages the model was given but the answer does not cite: shown apart from the sources,
        so a reader can check them without taking them for what the answer rests on."""
        cited = {c.number for c in self.citations}
        return tuple(c for c in self.consulted if c.number not in cited)

    def consulted_text(self) -> str:
        """One line naming the passages consulted but not cited; empty when there are none."""
        labels = list(dict.fromkeys(c.label() for c in self.consulted_only))
        return ("Also consulted: " + "; ".join(labels)) if labels else ""


@dataclass(frozen=True, slots=True)
class Turn:
    """One question and the bot's answer to it."""

    question: str
    answer: str
    at: float


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A document in the knowledge base, as listed to users."""

    id: str
    scope: Scope
    source: str
    title: str
    content_hash: str
    uploader: str
    chunk_count: int
    size_bytes: int
    ingested_at: float
    note: str = ""
    url: str | None = None
    """Where the document lives (a Slack file's permalink, the URL an API upload named), if known."""


@dataclass(frozen=True, slots=True)
class QuestionRecord:
    """One answered (or failed) question, as the reports need it."""

    platform: str
    workspace: str
    channel: str
    user: str
    question: str
    answered: bool
    mode: str
    first_token_s: float | None
    total_s: float
    input_tokens: int = 0
    output_tokens: int = 0
    cited_sources: tuple[str, ...] = ()
    error_kind: str | None = None
    at: datetime | None = None
    visibility: Visibility = "unknown"
    """Who can read the channel it was asked in: reports name its text and documents only to them."""
    tokens_estimated: bool = False
    """The server reported no usage: the token counts are teambot's estimate."""


@dataclass(frozen=True, slots=True)
class Report:
    """A usage report ready to post, free of platform specifics: what a `ReportDestination` is given.

    `text` is Markdown using bold, bullet lists and code spans only (Discord shows it as is, Slack
    converts it); `chart_png` is the chart image, posted with it as one file.
    """

    title: str
    text: str
    chart_png: bytes
    chart_name: str = "usage-report.png"
    chart_alt: str = "Questions per day with the share the bot could not answer"
    """The image's description, for readers who cannot see it."""
