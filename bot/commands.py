"""Every chat command, written once: ask, list, delete, upload, forget, feedback, stats.

Adapters translate a platform's event into a call here and render what comes back; nothing
here knows a platform. Results are platform-free: plain text built by `text(escape)`, where
`escape` is the platform's own escaping for words the bot did not write (document names,
users' references, reasons that quote them), and the structured values behind it.

    commands = Commands(knowledge=..., usage=..., permissions=..., dispatcher=...)
    listing = await commands.list_documents(message)
    await say(listing.text(escape=plain))
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from redis.exceptions import RedisError

from bot.core.errors import IngestError, PermissionDenied, StoreUnavailable
from bot.core.ports import ReplyStream, UsageRecorder
from bot.core.values import (
    Actor,
    Attachment,
    DocumentInfo,
    IncomingMessage,
    Reply,
    Scope,
    Turn,
)
from bot.core.visibility import Permissions, upload_scope, visible_scopes
from bot.knowledge import IngestResult, KnowledgeBase, document_name
from bot.reports.stats import StatsAnswer, UsageStats
from bot.suggestions import PromptSuggestions, SuggestedPrompt
from bot.threads import thread_document

if TYPE_CHECKING:
    from bot.dispatcher import Dispatcher
    from bot.feedback import Reason, RedisFeedback, Vote

log = logging.getLogger(__name__)

Escape = Callable[[str], str]


def as_typed(text: str) -> str:
    """No escaping: the console, the command line, plain-text logs."""
    return text


STORE_UNAVAILABLE = "the document store is unavailable right now"

Failure = Literal["not_found", "denied", "conflict", "unavailable", "internal"]
"""Why a command did not do what was asked, for surfaces that answer with a status (the HTTP API):
the request named no single document (or answer) there, the sender may not, it was done already
(a second vote), a store is down, or our own bug."""
NO_SUCH_ANSWER = "no answer with this id here (never given in this channel, or too old to rate)"
ALREADY_VOTED = "this user already rated this answer"


def failure_reason(error: BaseException) -> str:
    """One line for a command that failed on something other than the user's request."""
    if isinstance(error, StoreUnavailable):
        return STORE_UNAVAILABLE
    return f"something went wrong on our side ({type(error).__name__})"


def failure_of(error: BaseException) -> Failure:
    """The kind of `error`, caught by a command."""
    if isinstance(error, IngestError):
        return "not_found"
    if isinstance(error, PermissionDenied):
        return "denied"
    return "unavailable" if isinstance(error, StoreUnavailable) else "internal"


# --- results ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """One file's result: an `IngestResult`, or the one-line reason it was refused."""

    name: str
    result: IngestResult | None = None
    error: str | None = None

    def line(self, escape: Escape = as_typed) -> str:
        if self.result is not None:
            return f"✓ {escape(self.result.summary())}"
        # A refused file never got a stored name; clean it the same way for the report.
        return f"✗ {escape(document_name(self.name) or 'a file without a name')}: {escape(self.error or '')}"


def outcomes_text(outcomes: Sequence[FileOutcome], escape: Escape = as_typed) -> str:
    return "\n".join(outcome.line(escape) for outcome in outcomes)


def documents_text(documents: Sequence[DocumentInfo], escape: Escape = as_typed) -> str:
    """A plain listing of documents, one per line."""
    if not documents:
        return "No documents here yet. Upload a file to add one."
    lines = []
    for document in documents:
        when = datetime.fromtimestamp(document.ingested_at, UTC).strftime("%Y-%m-%d")
        where = " (workspace-wide)" if document.scope.channel == "*" else ""
        lines.append(f"{escape(document.source)}{where} · {document.chunk_count} chunks · {when} · id {document.id}")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class DocumentList:
    """What `list` found, or why it could not look."""

    documents: tuple[DocumentInfo, ...] = ()
    error: str | None = None
    failure: Failure | None = None

    def text(self, escape: Escape = as_typed) -> str:
        if self.error is not None:
            return f"Sorry, I couldn't list the documents: {self.error}."
        return documents_text(self.documents, escape)


@dataclass(frozen=True, slots=True)
class Deletion:
    """The document `delete` removed, or the one-line reason it did not."""

    document: DocumentInfo | None = None
    error: str | None = None
    failure: Failure | None = None

    def text(self, escape: Escape = as_typed) -> str:
        if self.document is not None:
            return f"Deleted {escape(self.document.source)} ({self.document.chunk_count} chunks)."
        return f"Could not delete: {escape(self.error or '')}."


@dataclass(frozen=True, slots=True)
class Rating:
    """The vote `rate_answer` stored, or the one-line reason it did not."""

    vote: Vote | None = None
    error: str | None = None
    failure: Failure | None = None


@dataclass(frozen=True, slots=True)
class DocumentsUsage:
    """How to use the documents command, after the reason the words given were not understood."""

    command: str
    reason: str = ""

    def text(self, escape: Escape = as_typed) -> str:
        reason = f"{escape(self.reason)}. " if self.reason else ""
        return (f"{reason}Usage: `{self.command}` lists this channel's documents; "
                f"`{self.command} delete NAME-OR-ID` deletes one.")


@dataclass(frozen=True, slots=True)
class ListDocuments:
    """`/kb` or `/kb list`."""


@dataclass(frozen=True, slots=True)
class DeleteDocument:
    """`/kb delete NAME-OR-ID`."""

    reference: str


DocumentsRequest = ListDocuments | DeleteDocument | DocumentsUsage


_CLOSING_QUOTE = {'"': '"', "'": "'", "“": "”", "‘": "’"}
"""Quotes a name may be put in: straight, or as phones and Macs type them by default (curly)."""


def _unquoted(name: str) -> str:
    """`name` without a pair of quotes around it (and, as before, without stray `"` at its ends)."""
    name = name.strip()
    if len(name) >= 2 and _CLOSING_QUOTE.get(name[0]) == name[-1]:
        name = name[1:-1].strip()
    return name.strip('"')


def parse_documents_command(words: str, *, command: str) -> DocumentsRequest:
    """The words after the documents command (`command`, e.g. Slack's `/kb`): nothing or `list`,
    `delete NAME-OR-ID`, or `help`; anything else is answered with the usage."""
    parts = words.strip().split(maxsplit=1)
    if not parts or parts[0].lower() in ("list", "ls"):
        return ListDocuments()
    if parts[0].lower() in ("delete", "remove", "rm"):
        reference = _unquoted(parts[1]) if len(parts) > 1 else ""
        return DeleteDocument(reference) if reference else DocumentsUsage(
            command, "say which document to delete: its name or id")
    if parts[0].lower() == "help":
        return DocumentsUsage(command)
    return DocumentsUsage(command, f"unknown option {parts[0]!r}")


FetchFiles = Callable[[], Awaitable[Sequence["Attachment | FileOutcome"]]]
"""Downloads a platform's files, in order: each an `Attachment` with its bytes, or a `FileOutcome`
saying why it could not be fetched. Called only once the uploader is allowed."""


# --- the service ----------------------------------------------------------------------------------------------


class Commands:
    """The commands every surface offers, over the parts they need."""

    def __init__(self, *, knowledge: KnowledgeBase, usage: UsageRecorder | None, permissions: Permissions,
                 dispatcher: Dispatcher, usage_stats: UsageStats | None = None,
                 feedback: RedisFeedback | None = None, suggestions: PromptSuggestions | None = None) -> None:
        self.knowledge = knowledge
        self.feedback = feedback
        self.usage = usage
        self.permissions = permissions
        self.dispatcher = dispatcher
        self.usage_stats = usage_stats
        self.suggestions = suggestions

    # --- ask, forget, feedback ---

    async def ask(self, message: IncomingMessage, stream: ReplyStream) -> Reply:
        """Answer `message` through `stream` (never raises for answer failures)."""
        return await self.dispatcher.handle(message, stream)

    async def summarize_thread(self, message: IncomingMessage, stream: ReplyStream) -> Reply:
        """Summarize the thread `message` carries (`thread_messages`), from the thread alone, through `stream`."""
        return await self.dispatcher.summarize(message, stream)

    async def save_thread(self, message: IncomingMessage, *, permalink: str | None, place: str = "") -> FileOutcome:
        """"Save to knowledge": store the thread `message` carries as a document of where it was said, if
        its sender may upload there (as an upload: the same thread saved again replaces the earlier copy)."""
        try:
            document = thread_document(message.thread_messages, permalink=permalink, place=place)
        except ValueError as exc:
            return FileOutcome("thread", error=str(exc))

        async def fetch() -> list[Attachment | FileOutcome]:
            return [document]

        [outcome] = await self.upload(names=[document.name], fetch=fetch, scope=upload_scope(message),
                                      uploader=message.user, actor=message.actor)
        return outcome

    async def forget(self, conversation_key: str) -> None:
        """Clear a thread's history."""
        await self.dispatcher.forget(conversation_key)

    async def history(self, conversation_key: str) -> list[Turn]:
        """A thread's remembered turns, oldest first (raises when the history store is unavailable)."""
        return await self.dispatcher.recall(conversation_key)

    async def record_feedback(self, *, platform: str, helpful: bool, workspace: str | None = None,
                              user: str = "", answer_id: str | None = None, link: str | None = None) -> Vote | None:
        """Count a 👍 or 👎 (the adapter lets each person vote once per answer), and store it with the answer it
        rates (`answer_id`, kept by the dispatcher) by `user` in `workspace`, with `link` to the message.

        Returns the stored vote; None when only counted: the answer is unknown (too old, or from
        another workspace) or Redis failed.
        """
        if self.usage is not None:
            await self.usage.record_feedback(platform=platform, helpful=helpful, workspace=workspace)
        if self.feedback is None or answer_id is None or workspace is None:
            return None
        try:
            return await self.feedback.record_vote(platform=platform, workspace=workspace, user=user,
                                                   answer_id=answer_id, helpful=helpful, link=link)
        except Exception as exc:  # noqa: BLE001 - the vote is counted; _log_failure logs the trace
            self._log_failure("storing a vote failed", exc)
            return None

    async def feedback_reason(self, *, platform: str, workspace: str, user: str, answer_id: str,
                              reason: Reason) -> Vote | None:
        """What `user` says was wrong with the answer they rated 👎; None when there is no such vote."""
        if self.feedback is None:
            return None
        try:
            return await self.feedback.set_reason(platform=platform, workspace=workspace, user=user,
                                                  answer_id=answer_id, reason=reason)
        except Exception as exc:  # noqa: BLE001 - a reason is optional; _log_failure logs the trace
            self._log_failure("storing a feedback reason failed", exc)
            return None

    async def rate_answer(self, *, scope: Scope, user: str, answer_id: str, helpful: bool,
                          reason: Reason | None = None) -> Rating:
        """A 👍/👎 (with its reason) from an integration on the answer `answer_id` given in `scope`: stored with the
        answer and counted, once per person (a second vote changes nothing: "conflict").

        An answer of another channel, workspace or platform is "not_found" exactly like one never given
        or too old to rate, so a caller learns nothing about answers outside the scope it names.
        """
        if self.feedback is None:
            return Rating(error="votes are not kept here", failure="unavailable")
        try:
            answer = await self.feedback.answer_in(scope, answer_id)
            if answer is None:
                return Rating(error=NO_SUCH_ANSWER, failure="not_found")
            vote = await self.feedback.first_vote(answer, user=user, helpful=helpful, reason=reason)
        except (RedisError, OSError) as exc:
            self._log_failure("storing a vote failed", exc)
            return Rating(error="votes can't be stored right now; try again", failure="unavailable")
        if vote is None:
            return Rating(error=ALREADY_VOTED, failure="conflict")
        if self.usage is not None:
            try:  # the vote is stored: the daily count missing it is no reason to say it failed
                await self.usage.record_feedback(platform=scope.platform, helpful=helpful, workspace=scope.workspace)
            except (RedisError, OSError) as exc:
                self._log_failure("counting a vote failed", exc)
        return Rating(vote=vote)

    async def feedback_votes(self, *, days: int, platform: str | None = None, workspace: str | None = None,
                             helpful: bool | None = None) -> list[Vote]:
        """The votes of the last `days` days with the answers they rate, newest first (for admins: the
        command line and the HTTP API, which are trusted; raises when Redis is unavailable)."""
        if self.feedback is None:
            return []
        return await self.feedback.recent_votes(days=days, platform=platform, workspace=workspace, helpful=helpful)

    # --- the agent view ---

    async def suggested_prompts(self, message: IncomingMessage, *, viewing: str | None = None) -> list[SuggestedPrompt]:
        """Prompts to offer as the conversation `message` is in starts (see `bot.suggestions`: only what
        its sender may see); `viewing` is the channel of the same workspace they are looking at. Empty
        when there is nothing to suggest or the stores cannot be read (suggestions are never worth an error)."""
        if self.suggestions is None:
            return []
        try:
            return await self.suggestions.for_conversation(message, viewing=viewing)
        except Exception as exc:  # noqa: BLE001 - a thread starts without suggestions; _log_failure logs the trace
            self._log_failure("suggesting prompts failed", exc)
            return []

    # --- usage statistics ---

    async def stats(self, message: IncomingMessage, period: str) -> StatsAnswer:
        """`/stats [day|week|month]` sent as `message`: the period so far, for where it was sent and as its
        sender may see it (see `bot.reports.stats`: nothing crosses workspaces or platforms)."""
        if self.usage_stats is None:
            return StatsAnswer(notice="Usage statistics are not kept here.")
        try:
            return await self.usage_stats.answer(message, period, is_admin=self.permissions.is_admin(message.actor))
        except Exception as exc:  # noqa: BLE001 - a reply says why; _log_failure logs the trace
            self._log_failure("reading usage statistics failed", exc)
            return StatsAnswer(notice=f"Sorry, I couldn't read the usage statistics: {failure_reason(exc)}.")

    # --- documents ---

    async def documents(self, message: IncomingMessage, words: str, *, command: str,
                        trusted: bool = False) -> DocumentList | Deletion | DocumentsUsage:
        """The documents command (`command` followed by `words`): list, delete one, or say how to use it."""
        match parse_documents_command(words, command=command):
            case ListDocuments():
                return await self.list_documents(message)
            case DeleteDocument(reference=reference):
                return await self.delete(message, reference, trusted=trusted)
            case DocumentsUsage() as usage:
                return usage

    async def list_documents(self, message: IncomingMessage) -> DocumentList:
        """Every document the message's place can answer from: its own and the workspace-wide ones."""
        try:
            documents = await self.knowledge.list_documents(visible_scopes(message))
        except Exception as exc:  # noqa: BLE001 - a reply says why; _log_failure logs the trace
            self._log_failure("listing documents failed", exc)
            return DocumentList(error=failure_reason(exc), failure=failure_of(exc))
        return DocumentList(tuple(documents))

    def manageable_scopes(self, message: IncomingMessage, *, trusted: bool = False) -> list[Scope]:
        """The scopes whose documents the sender could delete from where they are: the place's own,
        plus workspace-wide for admins (and trusted local users)."""
        scope = upload_scope(message)
        everywhere = scope.workspace_wide()
        if scope != everywhere and (trusted or self.permissions.is_admin(message.actor)):
            return [scope, everywhere]
        return [scope]

    async def delete(self, message: IncomingMessage, reference: str, *, trusted: bool = False) -> Deletion:
        """Delete a document by name or id, if the sender may (`trusted`: a local user, never checked)."""
        try:
            document = await self.knowledge.find(self.manageable_scopes(message, trusted=trusted), reference)
            if not trusted:
                self.permissions.check_manage(message.actor, document.scope)
            return Deletion(await self.knowledge.delete([document.scope], document.id))
        except (IngestError, PermissionDenied) as exc:
            return Deletion(error=str(exc), failure=failure_of(exc))
        except Exception as exc:  # noqa: BLE001 - a reply says why; _log_failure logs the trace
            self._log_failure("deleting a document failed", exc)
            return Deletion(error=failure_reason(exc), failure=failure_of(exc))

    # --- uploads ---

    def upload_refusal(self, *, scope: Scope, actor: Actor) -> str | None:
        """Why `actor` may not add documents to `scope` (one line), or None if it may."""
        try:
            self.permissions.check_manage(actor, scope)
        except PermissionDenied as denied:
            return str(denied)
        return None

    def check_upload(self, names: Sequence[str], *, scope: Scope, actor: Actor) -> list[FileOutcome]:
        """One refusal per file if `actor` may not add documents to `scope`; none if it may.

        Asked before anything is downloaded, so a refused user's files are never fetched.
        """
        refusal = self.upload_refusal(scope=scope, actor=actor)
        return [] if refusal is None else [FileOutcome(name, error=refusal) for name in names]

    async def upload(self, *, names: Sequence[str], fetch: FetchFiles, scope: Scope, uploader: str,
                     actor: Actor | None, note: str = "") -> list[FileOutcome]:
        """Check the uploader, then fetch and ingest the files; one outcome per file, in order.

        `actor` None is a trusted local caller (command line, console, HTTP API): never checked.
        `fetch` runs only once the check passed.
        """
        if actor is not None:
            refused = self.check_upload(names, scope=scope, actor=actor)
            if refused:
                return refused
        fetched = list(await fetch())
        ingested = iter(await self.ingest([f for f in fetched if isinstance(f, Attachment)], scope=scope,
                                          uploader=uploader, note=note))
        return [next(ingested) if isinstance(f, Attachment) else f for f in fetched]

    async def ingest(self, attachments: Sequence[Attachment], *, scope: Scope, uploader: str,
                     note: str = "") -> list[FileOutcome]:
        """Ingest files already at hand (permission already checked); a bad file never stops the others."""
        outcomes = []
        for attachment in attachments:
            data = attachment.data
            if data is None and attachment.path is not None:
                try:  # spooled to disk: read now, so only the file being ingested is in memory
                    data = await asyncio.to_thread(attachment.path.read_bytes)
                except OSError:
                    log.warning("could not read a spooled upload", exc_info=True)
            if data is None:
                outcomes.append(FileOutcome(attachment.name, error="the file could not be downloaded"))
                continue
            try:
                result = await self.knowledge.ingest(name=attachment.name, data=data, scope=scope,
                                                     uploader=uploader, note=note, url=attachment.source_url)
                outcomes.append(FileOutcome(attachment.name, result=result))
            except IngestError as exc:
                outcomes.append(FileOutcome(attachment.name, error=str(exc)))
            except StoreUnavailable:
                outcomes.append(FileOutcome(attachment.name, error="the document store is unavailable; try again"))
            except Exception as exc:
                log.exception("ingestion failed")
                outcomes.append(FileOutcome(attachment.name, error=f"could not be read ({type(exc).__name__})"))
        await self._record_upload(outcomes, scope)
        return outcomes

    async def _record_upload(self, outcomes: Sequence[FileOutcome], scope: Scope) -> None:
        if self.usage is None:
            return
        stored = [o.result for o in outcomes if o.result and o.result.status != "unchanged"]
        try:
            await self.usage.record_upload(
                platform=scope.platform, channel=scope.channel, workspace=scope.workspace,
                documents=len(stored), chunks=sum(r.document.chunk_count for r in stored),
                failures=sum(1 for o in outcomes if o.error),
            )
        except Exception:  # noqa: BLE001 - usage figures failing must not fail the upload
            log.warning("could not record upload usage")

    @staticmethod
    def _log_failure(what: str, exc: BaseException) -> None:
        if isinstance(exc, StoreUnavailable):
            log.warning(what, extra={"error": type(exc).__name__})
        else:
            log.exception(what)
