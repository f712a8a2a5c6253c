"""What every adapter does with uploaded files and document listings, in platform-free form."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from bot.core.errors import StoreUnavailable
from bot.core.ports import UsageRecorder
from bot.core.values import Attachment, DocumentInfo, Scope
from bot.knowledge import IngestResult, KnowledgeBase, document_name
from bot.parsers import SUPPORTED_EXTENSIONS, IngestError, extension_of
from bot.permissions import Actor, PermissionDenied, Permissions

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """One file's result: an `IngestResult`, or the one-line reason it was refused."""

    name: str
    result: IngestResult | None = None
    error: str | None = None

    def line(self) -> str:
        if self.result is not None:
            return f"✓ {self.result.summary()}"
        # A refused file never got a stored name; clean it the same way for the report.
        return f"✗ {document_name(self.name) or 'a file without a name'}: {self.error}"


def upload_refusals(names: Sequence[str], *, scope: Scope, actor: Actor,
                    permissions: Permissions) -> list[FileOutcome]:
    """One refusal per file if `actor` may not add documents to `scope`; none if it may.

    Adapters ask before downloading anything, so a refused user's files are never fetched.
    """
    try:
        permissions.check_manage(actor, scope)
    except PermissionDenied as denied:
        return [FileOutcome(name, error=str(denied)) for name in names]
    return []


async def ingest_attachments(knowledge: KnowledgeBase, usage: UsageRecorder | None, *,
                             attachments: Sequence[Attachment], scope: Scope, uploader: str,
                             note: str = "", actor: Actor | None = None,
                             permissions: Permissions | None = None) -> list[FileOutcome]:
    """Ingest each downloaded attachment; a bad file never stops the others.

    With `permissions`, `actor` must be allowed to manage documents in `scope` (chat platforms);
    trusted local callers (CLI, console) pass none.
    """
    if permissions is not None and actor is not None:
        refused = upload_refusals([a.name for a in attachments], scope=scope, actor=actor, permissions=permissions)
        if refused:
            return refused
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
            result = await knowledge.ingest(name=attachment.name, data=data, scope=scope,
                                            uploader=uploader, note=note)
            outcomes.append(FileOutcome(attachment.name, result=result))
        except IngestError as exc:
            outcomes.append(FileOutcome(attachment.name, error=str(exc)))
        except StoreUnavailable:
            outcomes.append(FileOutcome(attachment.name, error="the document store is unavailable; try again"))
        except Exception as exc:  # noqa: BLE001 - report per file, keep going
            log.exception("ingestion failed")
            outcomes.append(FileOutcome(attachment.name, error=f"could not be read ({type(exc).__name__})"))
    if usage is not None:
        try:
            await usage.record_upload(
                platform=scope.platform, channel=scope.channel, workspace=scope.workspace,
                documents=sum(1 for o in outcomes if o.result and o.result.status != "unchanged"),
                chunks=sum(o.result.document.chunk_count for o in outcomes if o.result and o.result.status != "unchanged"),
                failures=sum(1 for o in outcomes if o.error),
            )
        except Exception:  # noqa: BLE001 - usage is best effort
            log.warning("could not record upload usage")
    return outcomes


async def delete_document(knowledge: KnowledgeBase, *, scopes: Sequence[Scope], reference: str,
                          actor: Actor, permissions: Permissions) -> DocumentInfo:
    """Delete a document (by name or id) among `scopes` if `actor` may.

    Raises `IngestError` (no such document) or `PermissionDenied`, each with a one-line reason.
    """
    document = await knowledge.find(scopes, reference)
    permissions.check_manage(actor, document.scope)
    return await knowledge.delete([document.scope], document.id)


def manageable_scopes(scope: Scope, *, actor: Actor, permissions: Permissions) -> list[Scope]:
    """The scopes whose documents `actor` could delete from a channel: its own, plus workspace-wide for admins."""
    return [scope, scope.workspace_wide()] if permissions.is_admin(actor) else [scope]


def walk_folder(folder: Path) -> list[Path]:
    """The documents under `folder` (recursively, in name order): supported, non-hidden, non-empty files.

    What `teambot ingest DIR` and the console's `/upload DIR` read; blocking, so run it in a thread
    from async code.
    """
    files: list[Path] = []
    for child in sorted(folder.rglob("*")):
        hidden = any(part.startswith(".") for part in child.relative_to(folder).parts)
        # Folders are walked for documents: empty files (package markers) are not documents.
        if (child.is_file() and not hidden and extension_of(child.name) in SUPPORTED_EXTENSIONS
                and child.stat().st_size > 0):
            files.append(child)
    return files


def outcomes_text(outcomes: Sequence[FileOutcome]) -> str:
    return "\n".join(outcome.line() for outcome in outcomes)


def documents_text(documents: Sequence[DocumentInfo]) -> str:
    """A plain listing of documents, one per line."""
    if not documents:
        return "No documents here yet. Upload a file to add one."
    lines = []
    for document in documents:
        when = datetime.fromtimestamp(document.ingested_at, timezone.utc).strftime("%Y-%m-%d")
        where = " (workspace-wide)" if document.scope.channel == "*" else ""
        lines.append(f"{document.source}{where} · {document.chunk_count} chunks · {when} · id {document.id}")
    return "\n".join(lines)
