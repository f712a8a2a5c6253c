"""The document catalog in SQLite: documents, their chunks and each chunk's index terms.

The catalog is the source of truth. It holds documents, chunks and each chunk's index terms
(`agent.records.index_terms`: stemmed words, character bigrams for Korean). The term index
(`agent.term_sync`) and Chroma (`agent.write_behind`) are derived from it through two outboxes in
the same database: every change also writes a `lexical_outbox` row and a `vector_outbox` row in
the same transaction, so a crash between the catalog's commit and theirs loses nothing; the next
start finishes the work.

Writes go through one connection guarded by a lock; reads use one connection per worker thread.
Everything runs in worker threads, so the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple

from agent.records import Chunk, index_terms
from agent.text import TOKENIZER_VERSION
from bot.core.values import DocumentInfo, Scope

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_Args = TypeVarTuple("_Args")

_SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    platform TEXT NOT NULL, workspace TEXT NOT NULL, channel TEXT NOT NULL,
    source TEXT NOT NULL, title TEXT NOT NULL, content_hash TEXT NOT NULL,
    uploader TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
    chunk_count INTEGER NOT NULL, size_bytes INTEGER NOT NULL, ingested_at REAL NOT NULL,
    url TEXT
);
CREATE INDEX IF NOT EXISTS documents_scope ON documents (platform, workspace, channel);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL, location TEXT NOT NULL,
    terms TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks (document_id);
CREATE TABLE IF NOT EXISTS lexical_outbox (
    seq INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vector_outbox (
    seq INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL,
    platform TEXT NOT NULL, workspace TEXT NOT NULL, channel TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS index_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# Before the term index moved to tantivy, chunks' terms lived in an FTS5 table, each prefixed
# with a synthetic scope term. Opening such a file moves the terms into `chunks` and drops it.
_MIGRATE_FROM_FTS5 = """
ALTER TABLE chunks ADD COLUMN terms TEXT NOT NULL DEFAULT '';
UPDATE chunks SET terms = coalesce((
    SELECT substr(f.terms, instr(f.terms, ' ') + 1) FROM chunks_fts f WHERE f.rowid = chunks.rowid
), '');
DROP TABLE IF EXISTS chunks_vocab;
DROP TABLE IF EXISTS chunks_fts;
"""

_DOCUMENT_COLUMNS = ("id, platform, workspace, channel, source, title, content_hash, uploader, note,"
                     " chunk_count, size_bytes, ingested_at, url")
"""`documents`' columns by name, in the order `_document` reads them: no query depends on the table's own order."""

_ADDED_DOCUMENT_COLUMNS = {"url": "TEXT"}
"""Columns `documents` gained after its first release: an older file gets them (NULL, "not known")."""


@dataclass(frozen=True, slots=True)
class CandidateDetails:
    """What reranking needs of the candidates beyond their search hits (see `candidate_details`)."""

    headings: dict[str, tuple[str, str]]
    """(document title, location) of each chunk found."""
    terms: dict[str, list[str]]
    """The indexed terms of the chunks asked for, in text order."""


def _split_terms(stored: str) -> list[str]:
    return stored.split(" ") if stored else []


def _in_scopes(scopes: Sequence[Scope], *, table: str) -> tuple[str, list[str]]:
    """SQL condition (and its parameters) that a `documents` row, aliased `table`, is in one of `scopes`."""
    clause = " OR ".join(f"({table}.platform=? AND {table}.workspace=? AND {table}.channel=?)" for _ in scopes)
    return f"({clause})", [part for s in scopes for part in (s.platform, s.workspace, s.channel)]


class Catalog:
    """Documents and their chunks in SQLite, with the outboxes of the stores derived from them.

    Use as `async with Catalog(path) as catalog:` (or call `open` and `aclose`): opening
    recomputes terms stored by an earlier tokenizer.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._migrate()
        self._db.executescript(_SCHEMA)
        self._add_document_columns()
        self._lock = threading.Lock()
        self.path = path
        """The SQLite file."""
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._on_change: list[Callable[[], None]] = []

    def _migrate(self) -> None:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "chunks_fts" in tables:
            try:
                self._db.executescript("BEGIN IMMEDIATE;" + _MIGRATE_FROM_FTS5 + "COMMIT;")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("VACUUM")  # hand the dropped index's pages back to the file system

    def _add_document_columns(self) -> None:
        def missing() -> list[str]:
            present = {row[1] for row in self._db.execute("PRAGMA table_info(documents)")}
            return [name for name in _ADDED_DOCUMENT_COLUMNS if name not in present]

        if not missing():
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for name in missing():  # again, under the write lock: a replica may have added it meanwhile
                self._db.execute(f"ALTER TABLE documents ADD COLUMN {name} {_ADDED_DOCUMENT_COLUMNS[name]}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    async def open(self) -> Catalog:
        """Recompute terms stored by an earlier tokenizer (the term outbox passes them on)."""
        await asyncio.to_thread(self._retokenize_if_outdated)
        return self

    def _stored_tokenizer_version(self) -> int | None:
        row = self._db.execute("SELECT value FROM index_meta WHERE key = 'tokenizer_version'").fetchone()
        if row is not None:
            return int(row[0])
        # A catalog from before the version was recorded holds version 1's terms; an empty one none.
        return 1 if self._db.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() else None

    def _retokenize_if_outdated(self) -> None:
        if self._stored_tokenizer_version() == TOKENIZER_VERSION:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                stored = self._stored_tokenizer_version()  # again: a replica may have done it meanwhile
                if stored is not None and stored != TOKENIZER_VERSION:
                    documents = [row[0] for row in self._db.execute("SELECT id FROM documents")]
                    log.info("recomputing stored index terms for the current tokenizer", extra={
                        "documents": len(documents), "from_version": stored, "to_version": TOKENIZER_VERSION,
                    })
                    for document_id in documents:
                        self._retokenize_document(document_id)
                self._db.execute(
                    "INSERT OR REPLACE INTO index_meta (key, value) VALUES ('tokenizer_version', ?)",
                    (str(TOKENIZER_VERSION),),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _retokenize_document(self, document_id: str) -> None:
        # The outbox row has the term index pick the new terms up on the next sync, crash or not.
        rows = self._db.execute(
            "SELECT c.rowid, d.title, c.location, c.text FROM chunks c JOIN documents d ON d.id = c.document_id"
            " WHERE c.document_id = ?",
            (document_id,),
        ).fetchall()
        self._db.executemany(
            "UPDATE chunks SET terms = ? WHERE rowid = ?",
            [(" ".join(index_terms(title=title, location=location, text=text)), rowid)
             for rowid, title, location, text in rows],
        )
        self._db.execute("INSERT INTO lexical_outbox (document_id) VALUES (?)", (document_id,))

    async def __aenter__(self) -> Catalog:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the database."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            self._db.close()
            for reader in self._readers:
                reader.close()
            self._readers.clear()

    def _reader(self) -> sqlite3.Connection:
        """This thread's read-only connection: with WAL, readers run in parallel with each other and
        with the writer, and SQLite releases the GIL while a query runs, so searches use both cores."""
        reader = getattr(self._local, "connection", None)
        if reader is None:
            reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            reader.execute("PRAGMA query_only = ON")
            self._local.connection = reader
            with self._lock:
                self._readers.append(reader)
        return reader

    async def _read(self, function: Callable[[*_Args], _T], *args: *_Args) -> _T:
        return await asyncio.to_thread(function, *args)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Have `listener` called, on the event loop, after every document replaced or deleted."""
        self._on_change.append(listener)

    async def _write(self, function: Callable[[*_Args], _T], *args: *_Args) -> _T:
        def locked() -> _T:
            with self._lock:
                return function(*args)

        result = await asyncio.to_thread(locked)
        for listener in self._on_change:
            listener()
        return result

    # --- writes -----------------------------------------------------------------
    def _replace_document(self, document: DocumentInfo, chunks: Sequence[Chunk],
                          chunk_terms: Sequence[Sequence[str]]) -> int:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            self._delete_rows(document.id)
            db.execute(
                f"INSERT INTO documents ({_DOCUMENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (document.id, document.scope.platform, document.scope.workspace, document.scope.channel,
                 document.source, document.title, document.content_hash, document.uploader, document.note,
                 document.chunk_count, document.size_bytes, document.ingested_at, document.url),
            )
            db.executemany(
                "INSERT INTO chunks (id, document_id, ordinal, text, location, terms) VALUES (?,?,?,?,?,?)",
                [(chunk.id, chunk.document_id, chunk.ordinal, chunk.text, chunk.location, " ".join(terms))
                 for chunk, terms in zip(chunks, chunk_terms, strict=True)],
            )
            receipt = self._owe_vectors(document.id, document.scope)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return receipt

    def _owe_vectors(self, document_id: str, scope: Scope) -> int:
        cursor = self._db.execute(
            "INSERT INTO vector_outbox (document_id, platform, workspace, channel) VALUES (?,?,?,?)",
            (document_id, scope.platform, scope.workspace, scope.channel),
        )
        return int(cursor.lastrowid or 0)

    def _delete_rows(self, document_id: str) -> None:
        self._db.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
        self._db.execute("DELETE FROM documents WHERE id = ?", (document_id,))
        self._db.execute("INSERT INTO lexical_outbox (document_id) VALUES (?)", (document_id,))

    def _delete_document(self, document_id: str) -> int | None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute(
                "SELECT platform, workspace, channel FROM documents WHERE id = ?", (document_id,)
            ).fetchone()
            self._delete_rows(document_id)
            receipt = self._owe_vectors(document_id, Scope(*row)) if row is not None else None
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return receipt

    async def replace_document(self, document: DocumentInfo, chunks: Sequence[Chunk],
                               chunk_terms: Sequence[Sequence[str]]) -> int:
        """Atomically put `document` and its chunks in place of any earlier version.

        Returns the receipt of the vector write this owes (see `vector_writes_owed`).
        """
        return await self._write(self._replace_document, document, chunks, chunk_terms)

    def _set_url(self, document_id: str, url: str | None) -> None:
        with self._lock:
            self._db.execute("UPDATE documents SET url = ? WHERE id = ?", (url, document_id))

    async def set_url(self, document_id: str, url: str | None) -> None:
        """Record where the document lives: no chunk, term or vector depends on it, so nothing else is owed."""
        await asyncio.to_thread(self._set_url, document_id, url)

    async def delete_document(self, document_id: str) -> int | None:
        """Delete a document and its chunks; returns the receipt of the vector removal this owes
        (None if there was no such document)."""
        return await self._write(self._delete_document, document_id)

    # --- the vector outbox --------------------------------------------------------------------------
    # Every catalog change also records that Chroma owes the document a write, in the same
    # transaction; the row goes once the vector store reports the write done. What a crash
    # leaves here is written again at the next start.
    def _vector_writes_owed(self) -> list[tuple[int, str, Scope]]:
        rows = self._reader().execute(
            "SELECT seq, document_id, platform, workspace, channel FROM vector_outbox ORDER BY seq"
        )
        return [(seq, document_id, Scope(platform, workspace, channel))
                for seq, document_id, platform, workspace, channel in rows]

    async def vector_writes_owed(self) -> list[tuple[int, str, Scope]]:
        """(receipt, document id, scope) of every vector write not yet reported done, oldest first."""
        return await self._read(self._vector_writes_owed)

    def _forget_vector_writes(self, receipts: list[int]) -> None:
        with self._lock:
            for start in range(0, len(receipts), 500):
                part = receipts[start : start + 500]
                self._db.execute(f"DELETE FROM vector_outbox WHERE seq IN ({','.join('?' * len(part))})", part)

    async def forget_vector_writes(self, receipts: Sequence[int]) -> None:
        """The vector writes with these receipts are done."""
        if receipts:
            await asyncio.to_thread(self._forget_vector_writes, list(receipts))

    # --- the term outbox ----------------------------------------------------------------------------
    # Every catalog change also records, in the same transaction, that the term index owes the
    # document an update (see `agent.term_sync`). These block: the sync calls them in its worker thread.
    def term_updates_owed(self) -> list[tuple[int, str]]:
        """(sequence number, document id) of every term-index update owed, oldest first."""
        return self._reader().execute("SELECT seq, document_id FROM lexical_outbox ORDER BY seq").fetchall()

    def forget_term_updates(self, last_seq: int) -> None:
        """The term index has committed every update owed up to `last_seq`."""
        with self._lock:
            self._db.execute("DELETE FROM lexical_outbox WHERE seq <= ?", (last_seq,))

    def document_ids(self) -> list[str]:
        """Every document's id."""
        return [row[0] for row in self._reader().execute("SELECT id FROM documents")]

    def chunk_count(self) -> int:
        """Chunks in the catalog, all scopes together."""
        return int(self._reader().execute("SELECT count(*) FROM chunks").fetchone()[0])

    def term_rows(self, document_id: str) -> list[tuple[int, str, str]]:
        """(row id, scope key, space-separated terms) of each chunk of the document, as the term index
        holds them (none: the document is gone)."""
        rows = self._reader().execute(
            "SELECT c.rowid, d.platform, d.workspace, d.channel, c.terms FROM chunks c"
            " JOIN documents d ON d.id = c.document_id WHERE c.document_id = ?",
            (document_id,),
        )
        return [(rowid, Scope(platform, workspace, channel).key, terms)
                for rowid, platform, workspace, channel, terms in rows]

    # --- reads ------------------------------------------------------------------
    @staticmethod
    def _document(row: tuple[Any, ...]) -> DocumentInfo:
        return DocumentInfo(
            id=row[0], scope=Scope(row[1], row[2], row[3]), source=row[4], title=row[5],
            content_hash=row[6], uploader=row[7], note=row[8], chunk_count=row[9],
            size_bytes=row[10], ingested_at=row[11], url=row[12],
        )

    def _documents(self, scopes: Sequence[Scope]) -> list[DocumentInfo]:
        if not scopes:
            return []
        clause, params = _in_scopes(scopes, table="documents")
        rows = self._reader().execute(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE {clause} ORDER BY source COLLATE NOCASE", params
        ).fetchall()
        return [self._document(row) for row in rows]

    async def list_documents(self, scopes: Sequence[Scope]) -> list[DocumentInfo]:
        return await self._read(self._documents, list(scopes))

    def _get_document(self, document_id: str) -> DocumentInfo | None:
        row = self._reader().execute(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE id = ?", (document_id,)
        ).fetchone()
        return self._document(row) if row else None

    async def get_document(self, document_id: str) -> DocumentInfo | None:
        return await self._read(self._get_document, document_id)

    def _chunk_ids(self, document_id: str) -> list[str]:
        rows = self._reader().execute("SELECT id FROM chunks WHERE document_id = ? ORDER BY ordinal", (document_id,))
        return [row[0] for row in rows]

    async def chunk_ids(self, document_id: str) -> list[str]:
        return await self._read(self._chunk_ids, document_id)

    def _chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        found: dict[str, Chunk] = {}
        for start in range(0, len(ids), 500):
            batch = list(ids[start : start + 500])
            marks = ",".join("?" * len(batch))
            rows = self._reader().execute(
                "SELECT c.id, c.document_id, c.ordinal, c.text, c.location, d.source, d.title,"
                " d.platform, d.workspace, d.channel, d.url, d.ingested_at"
                f" FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id IN ({marks})",
                batch,
            )
            for row in rows:
                found[row[0]] = Chunk(
                    id=row[0], document_id=row[1], ordinal=row[2], text=row[3], location=row[4],
                    source=row[5], title=row[6], scope=Scope(row[7], row[8], row[9]),
                    url=row[10], updated_at=row[11],
                )
        return found

    def _candidate_details(self, ids: Sequence[str], with_terms: set[str]) -> CandidateDetails:
        headings: dict[str, tuple[str, str]] = {}
        terms: dict[str, list[str]] = {}
        for start in range(0, len(ids), 500):
            batch = list(ids[start : start + 500])
            rows = self._reader().execute(
                "SELECT c.id, d.title, c.location, c.terms FROM chunks c JOIN documents d ON d.id = c.document_id"
                f" WHERE c.id IN ({','.join('?' * len(batch))})",
                batch,
            )
            for chunk_id, title, location, stored in rows:
                headings[chunk_id] = (title, location)
                if chunk_id in with_terms:
                    terms[chunk_id] = _split_terms(stored)
        return CandidateDetails(headings=headings, terms=terms)

    async def candidate_details(self, ids: Sequence[str], *, with_terms: Iterable[str] = ()) -> CandidateDetails:
        """Document title and location of each of these chunks, and the indexed terms of those in
        `with_terms`, in one read (chunks no longer there are left out)."""
        return await self._read(self._candidate_details, list(ids), set(with_terms))

    async def get_chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        return await self._read(self._chunks, list(ids))

    def hit_rows(self, rowids: Sequence[int], scopes: Sequence[Scope]) -> dict[int, tuple[str, list[str]]]:
        """(chunk id, terms) of the term index's hits that are chunks of `scopes` in the catalog.
        Blocks: for a search in its worker thread."""
        allowed, allowed_params = _in_scopes(scopes, table="d")
        found: dict[int, tuple[str, list[str]]] = {}
        for start in range(0, len(rowids), 500):
            batch = list(rowids[start : start + 500])
            rows = self._reader().execute(
                # CROSS JOIN keeps the planner on the few row ids first, not on every chunk of the scopes.
                "SELECT c.rowid, c.id, c.terms FROM chunks c CROSS JOIN documents d ON d.id = c.document_id"
                f" WHERE c.rowid IN ({','.join('?' * len(batch))}) AND {allowed}",
                [*batch, *allowed_params],
            )
            # A row id without a catalog row in these scopes is a chunk deleted since the term index last
            # committed; SQLite may even have given its row id to a new chunk elsewhere, hence the scope check.
            found.update((rowid, (chunk_id, _split_terms(terms))) for rowid, chunk_id, terms in rows)
        return found

