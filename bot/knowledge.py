"""The knowledge base: ingest, list and delete documents, all-or-nothing.

A file is parsed, chunked and embedded before anything is written. Then one catalog
transaction (SQLite, the source of truth) puts the new version in place of the old; if it
fails, nothing has changed. The term index and Chroma are derived from the catalog and follow
it through outboxes written in that same transaction: Chroma gets the vectors already computed
(`WriteBehindVectorStore.submit`, batched in the background), and `resume` writes again
whatever a crash left owed, embedding those documents anew from the catalog's text.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from agent.catalog import Catalog
from agent.chroma_store import VectorWrite
from agent.embeddings import Embedder
from agent.records import Chunk, chunk_id, section_heading
from agent.term_sync import TermIndexSync
from agent.write_behind import WriteBehindVectorStore
from bot.chunking import ChunkingRules, Piece
from bot.core.errors import IngestError
from bot.core.labels import MAX_NAME_CHARS, clean_label
from bot.core.links import safe_url
from bot.core.values import DocumentInfo, Scope
from bot.observability import Metrics
from bot.parsers import ParseLimits
from bot.sandbox import ParserSandbox

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What happened to one uploaded file."""

    document: DocumentInfo
    status: Literal["added", "replaced", "unchanged"]

    def summary(self) -> str:
        verb = {"added": "Added", "replaced": "Updated", "unchanged": "Already up to date:"}[self.status]
        return f"{verb} {self.document.source} ({self.document.chunk_count} chunks)"


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_bytes: int
    max_chunks: int
    parse: ParseLimits


def document_name(file_name: str) -> str:
    """The name a file is stored and shown under: its last path part as a printable one-line label
    (see `clean_label`). Empty if nothing is left."""
    return clean_label(file_name.replace("\\", "/").rsplit("/", 1)[-1])


def document_id(scope: Scope, source: str) -> str:
    """Stable id: the same file name in the same scope is the same document (re-upload replaces)."""
    return hashlib.blake2b(f"{scope.key}\0{source}".encode(), digest_size=8).hexdigest()


class KnowledgeBase:
    """Documents per scope, searchable by the agent's retriever."""

    def __init__(self, *, catalog: Catalog, terms: TermIndexSync, vectors: WriteBehindVectorStore,
                 embedder: Embedder, chunk_size: int, chunk_overlap: int, limits: IngestLimits,
                 sandbox: ParserSandbox, metrics: Metrics | None = None) -> None:
        self.sandbox = sandbox
        self.metrics = metrics
        self.catalog = catalog
        self.terms = terms
        self.vectors = vectors
        self.embedder = embedder
        self.limits = limits
        # Applied in the sandbox's worker, where splitting a huge text cannot hurt the bot.
        self._chunking = ChunkingRules(chunk_size=chunk_size, chunk_overlap=chunk_overlap, max_chunks=limits.max_chunks)
        # One writer per document at a time: two uploads of the same file must not interleave.
        self._document_locks: dict[str, asyncio.Lock] = {}

    @staticmethod
    def _chunk(*, doc_id: str, source: str, title: str, scope: Scope, pieces: list[Piece]) -> list[Chunk]:
        return [
            Chunk(id=chunk_id(doc_id, ordinal), document_id=doc_id, ordinal=ordinal, text=piece.text,
                  source=source, title=title, location=piece.location, scope=scope)
            for ordinal, piece in enumerate(pieces)
        ]

    async def ingest(self, *, name: str, data: bytes, scope: Scope, uploader: str, note: str = "",
                     url: str | None = None) -> IngestResult:
        """Add or replace one document; raises `IngestError` with a one-line reason and changes nothing.

        `url` is where the document lives (citations link to it); one that is not a plain web address
        (see `safe_url`) is not kept. Re-uploading the same content with a new URL updates it.
        """
        try:
            result = await self._ingest(name=name, data=data, scope=scope, uploader=uploader, note=note,
                                        url=safe_url(url))
        except Exception:
            if self.metrics is not None:
                self.metrics.observe_ingest(chunks=None)
            raise
        if self.metrics is not None and result.status != "unchanged":
            self.metrics.observe_ingest(chunks=result.document.chunk_count)
        return result

    async def _ingest(self, *, name: str, data: bytes, scope: Scope, uploader: str, note: str,
                      url: str | None) -> IngestResult:
        source = document_name(name)
        if not source:
            raise IngestError("the file has no name")
        if len(source) > MAX_NAME_CHARS:
            raise IngestError(f"the file name is {len(source):,} characters long, over the limit of {MAX_NAME_CHARS}")
        if len(data) > self.limits.max_bytes:
            raise IngestError(
                f"the file is {len(data) / 1048576:.1f} MB, over the {self.limits.max_bytes / 1048576:.0f} MB limit"
            )
        content_hash = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())  # 20 MB: not on the loop
        doc_id = document_id(scope, source)
        lock = self._document_locks.setdefault(doc_id, asyncio.Lock())
        async with lock:
            existing = await self.catalog.get_document(doc_id)
            if existing is not None and existing.content_hash == content_hash and not note:
                if url in (None, existing.url):
                    return IngestResult(existing, "unchanged")
                # Only the link moved: the content, and so when it last changed, stay as they are.
                await self.catalog.set_url(doc_id, url)
                return IngestResult(replace(existing, url=url), "replaced")
            await self.vectors.check_writable()
            parsed = await self.sandbox.read(source, data, limits=self.limits.parse, chunking=self._chunking)
            chunks = await asyncio.to_thread(
                self._chunk, doc_id=doc_id, source=source, title=parsed.title, scope=scope, pieces=parsed.pieces
            )
            if not chunks:
                raise IngestError("the file contains no text")
            # Side by side: the embedder's tokenizer and matrix work release the GIL, the terms need it.
            embeddings, terms = await asyncio.gather(
                _embed_in_batches(self.embedder, [_embedding_text(c) for c in chunks]),
                asyncio.to_thread(_index_terms, chunks),
            )
            document = DocumentInfo(
                id=doc_id, scope=scope, source=source, title=parsed.title, content_hash=content_hash,
                uploader=uploader, chunk_count=len(chunks), size_bytes=len(data), ingested_at=time.time(), note=note,
                url=url if url is not None else existing.url if existing is not None else None,
            )

            async def commit() -> None:
                receipt = await self.catalog.replace_document(document, chunks, terms)
                self.vectors.submit(_vector_write(document, chunks, embeddings, receipts=(receipt,),
                                                  replaces=existing is not None))

            # Shielded: a cancelled upload whose catalog write goes through still hands Chroma its vectors.
            await asyncio.shield(commit())
            return IngestResult(document, "replaced" if existing is not None else "added")

    async def resume(self) -> int:
        """Write to Chroma what the catalog says it still owes (left by a crash or a Chroma outage
        at the last stop), embedding those documents again; returns how many documents.

        Replicas sharing the catalog: a starting replica also rewrites writes another replica has
        in flight. That is the same work twice, except when the document is replaced again in
        between and the other replica's newer write lands first: Chroma then keeps this older
        version's vectors (the catalog, and so the text and terms, stay right) until the
        document is next written.
        """
        owed: dict[str, tuple[Scope, list[int]]] = {}
        for receipt, doc_id, scope in await self.catalog.vector_writes_owed():
            owed.setdefault(doc_id, (scope, []))[1].append(receipt)
        for doc_id, (scope, receipts) in owed.items():
            async with self._document_locks.setdefault(doc_id, asyncio.Lock()):
                document = await self.catalog.get_document(doc_id)
                if document is None:
                    self.vectors.submit(VectorWrite.removal(scope, doc_id, tuple(receipts)))
                    continue
                found = await self.catalog.get_chunks(await self.catalog.chunk_ids(doc_id))
                chunks = sorted(found.values(), key=lambda c: c.ordinal)
                try:
                    embeddings = await _embed_in_batches(self.embedder, [_embedding_text(c) for c in chunks])
                except Exception:  # an embedding endpoint down must not keep the bot from starting
                    log.exception("could not embed a document owed to Chroma; trying again at the next start",
                                  extra={"document": doc_id})
                    continue
                self.vectors.submit(_vector_write(document, chunks, embeddings, receipts=tuple(receipts),
                                                  replaces=True))
        return len(owed)

    async def settle(self) -> None:
        """Wait until the term index and Chroma hold every change made so far."""
        await self.terms.sync()
        await self.vectors.flush()

    async def list_documents(self, scopes: Sequence[Scope]) -> list[DocumentInfo]:
        return await self.catalog.list_documents(scopes)

    async def find(self, scopes: Sequence[Scope], reference: str) -> DocumentInfo:
        """A document by id or by file name within `scopes`; raises `IngestError` if none or ambiguous."""
        documents = await self.list_documents(scopes)
        wanted = _comparable_name(reference)
        matches = [d for d in documents if d.id == reference] or [
            d for d in documents if _comparable_name(d.source) == wanted
        ]
        if not matches:
            raise IngestError(f"no document named {reference!r} here")
        if len(matches) > 1:
            raise IngestError(f"{len(matches)} documents are named {reference!r}; use its id instead")
        return matches[0]

    async def delete(self, scopes: Sequence[Scope], reference: str) -> DocumentInfo:
        """Delete a document (by id or name) visible in `scopes`; returns what was deleted."""
        document = await self.find(scopes, reference)
        async with self._document_locks.setdefault(document.id, asyncio.Lock()):
            await self.vectors.check_writable()

            async def commit() -> None:
                receipt = await self.catalog.delete_document(document.id)
                if receipt is not None:
                    self.vectors.submit(VectorWrite.removal(document.scope, document.id, (receipt,)))

            await asyncio.shield(commit())
        return document


def _comparable_name(name: str) -> str:
    """A file name as a person types it: composed (a Mac uploads Korean names decomposed, NFD, which
    look the same but differ code point by code point), case left out."""
    return unicodedata.normalize("NFC", name.strip()).casefold()


def _vector_write(document: DocumentInfo, chunks: Sequence[Chunk], embeddings: list[list[float]], *,
                  receipts: tuple[int, ...], replaces: bool) -> VectorWrite:
    # Uploader, hash and time ride along with every chunk, for whoever reads Chroma directly.
    extra = {"uploader": document.uploader, "content_hash": document.content_hash,
             "ingested_at": document.ingested_at}
    return VectorWrite(
        scope=document.scope, document_id=document.id, ids=[c.id for c in chunks],
        embeddings=list(embeddings), metadatas=[{**c.metadata(), **extra} for c in chunks],
        replaces=replaces, receipts=receipts,
    )


_EMBED_BATCH = 256


async def _embed_in_batches(embedder: Embedder, texts: Sequence[str]) -> list[list[float]]:
    """All of `texts` embedded, a batch at a time: the tokenizer's working memory is that of one
    batch however long the document (all at once, a 20 MB CJK text took 600 MB here)."""
    vectors: list[list[float]] = []
    for start in range(0, len(texts), _EMBED_BATCH):
        vectors.extend(await embedder.embed_documents(texts[start : start + _EMBED_BATCH]))
    return vectors


def _index_terms(chunks: Sequence[Chunk]) -> list[list[str]]:
    """Each chunk's index terms, equal terms sharing one string: CJK text yields a bigram per
    character, so a long document would otherwise hold millions of copies of the same few."""
    shared: dict[str, str] = {}
    return [[shared.setdefault(term, term) for term in chunk.index_terms()] for chunk in chunks]


def _embedding_text(chunk: Chunk) -> str:
    heading = section_heading(chunk.location)
    return f"{chunk.title}. {heading}\n{chunk.text}" if heading else f"{chunk.title}\n{chunk.text}"
