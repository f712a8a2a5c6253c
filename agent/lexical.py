"""The document catalog in SQLite, and BM25 search over it through a term index beside it.

SQLite holds documents, chunks and each chunk's index terms (`agent.records.index_terms`:
stemmed words, character bigrams for Korean), and is the source of truth. The BM25 index
(`agent.termindex.TermIndex`, tantivy) is derived from it: every catalog change also writes a
row to `lexical_outbox` in the same transaction, and `sync` applies the outbox to the term
index and commits it. A crash between the two leaves the outbox behind, so the next start
finishes the work; a lost or unreadable term index is rebuilt from the catalog.

Ingestion does not wait for that commit (it fsyncs: about 20 ms here, an eighth of what a
document's ingestion takes); the sync runs in the background, writes within 0.3 s sharing one
commit, and every search first waits for any sync still owed or running, so a document is
searchable as soon as `replace_document` returns.

Chroma is derived from the catalog the same way: each change also writes a `vector_outbox`
row, which goes once the vector store reports the document's vectors written (see
`agent.vectorstore`); rows a crash leaves behind are written again at the next start.

Scope is enforced inside the term index's query itself: each chunk carries its scope, and a
search only matches chunks of the allowed scopes. The statistics that weigh terms (how many
chunks hold a word, how long chunks are) are counted within the allowed scopes too, so nothing
a question's ranking, relevance or answer depends on changes with documents it may not see.
Counted as tantivy counts, they include the allowed scopes' chunks deleted but not yet merged
away: when a merge drops those can depend on anyone's writes, but what is dropped is the
allowed scopes' own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple

from agent.records import Chunk, index_terms
from agent.termindex import (
    BM25_B,
    BM25_K1,
    MAX_TERM_CHARS,
    ScopeStatistics,
    TermIndex,
    bm25_idf,
    searchable_terms,
    stored_length,
)
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
    chunk_count INTEGER NOT NULL, size_bytes INTEGER NOT NULL, ingested_at REAL NOT NULL
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

_MIN_CORPUS_FOR_IDF = 1000
# BM25 hits are rescored with statistics of the allowed scopes; while tantivy's ranking may have
# missed one of the best by those, more of its hits are read, doubling, up to this many times
# `limit` (plus the lookahead). Past that, every chunk of the scopes holding a term is read.
_MAX_RESCORED_FACTOR = 4
# Hits read beyond `limit` at first, so that a score below the best `limit` shows none was missed.
_LOOKAHEAD = 8
# Relative difference below which two BM25 scores count as tied (tantivy computes in f32).
_SCORE_TOLERANCE = 1e-4
_WRITER_IDLE_S = 1.0
_COMMIT_DELAY_S = 0.3


@dataclass(frozen=True, slots=True)
class TermStatistics:
    """Document frequencies of some terms and the size of the scopes they were counted in (the
    scopes a question may see: see `KnowledgeIndex.lexical_candidates`)."""

    chunks: int
    frequencies: dict[str, int]
    terms: int = 0
    """The terms of those chunks, all told (their average length, for BM25)."""
    longest: int = 0
    """Terms in the longest of those chunks (0: not counted)."""

    @classmethod
    def of(cls, counted: ScopeStatistics) -> TermStatistics:
        return cls(chunks=counted.chunks, frequencies=counted.frequencies, terms=counted.terms,
                   longest=counted.longest)

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """BM25 inverse document frequency of each term."""
        # A floor on the corpus size: in a knowledge base of three chunks every matched term
        # would otherwise weigh nearly nothing next to one unmatched word of the question.
        corpus = max(self.chunks, _MIN_CORPUS_FOR_IDF)
        result = {}
        for term in terms:
            frequency = self.frequencies.get(term, 0)
            result[term] = math.log(1 + (corpus - frequency + 0.5) / (frequency + 0.5))
        return result

    def selective(self, terms: Sequence[str], *, max_share: float, max_terms: int) -> list[str]:
        """The terms worth searching for: the rarest `max_terms`, without terms in more than
        `max_share` of all chunks (they match most of the index and barely change the ranking).
        At least the rarest term is always kept."""
        unique = sorted(dict.fromkeys(terms), key=lambda t: self.frequencies.get(t, 0))
        # The same floor as `idf`'s: counted within a channel of a few chunks, every word it holds is
        # in a large share of them, and only the question's words it lacks would be searched for.
        limit = max_share * max(self.chunks, _MIN_CORPUS_FOR_IDF)
        kept = [t for t in unique if self.frequencies.get(t, 0) <= limit][:max_terms]
        return kept or unique[:1]

    @property
    def average_length(self) -> float:
        """Mean number of terms per chunk (1 for no chunks, which then score nothing anyway)."""
        return self.terms / self.chunks if self.chunks and self.terms else 1.0

    def bm25_idf(self, terms: Iterable[str]) -> dict[str, float]:
        """Each term's weight in the BM25 score: as tantivy computes it, without `idf`'s floor."""
        return {t: bm25_idf(self.frequencies.get(t, 0), self.chunks) for t in terms}

    def bm25(self, chunk_terms: Sequence[str], idf: dict[str, float]) -> float:
        """BM25 score of a chunk with these terms for a query of the terms in `idf`, with the chunk
        length rounded as tantivy stores it: in one scope, tantivy's own score."""
        # Set and list operations run in C, where a loop over the chunk's terms would run in Python.
        present = idf.keys() & set(chunk_terms)
        if not present:
            return 0.0
        counts = [(weight, chunk_terms.count(term)) for term, weight in idf.items() if term in present]
        length = len(chunk_terms)
        if max(map(len, chunk_terms)) > MAX_TERM_CHARS:  # rare: terms the index leaves out
            length = len(searchable_terms(chunk_terms))
        norm = BM25_K1 * (1 - BM25_B + BM25_B * stored_length(length) / self.average_length)
        return sum(weight * (BM25_K1 + 1) * tf / (tf + norm) for weight, tf in counts)


@dataclass(frozen=True, slots=True)
class LexicalCandidates:
    """One lexical search: the statistics of the query's terms, the BM25 hits, and their terms."""

    statistics: TermStatistics
    hits: list[tuple[str, float]]
    """(chunk id, BM25 score) with higher = better, best first."""
    chunk_terms: dict[str, list[str]]
    """The indexed terms of each hit, in text order."""


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


class KnowledgeIndex:
    """Catalog of documents plus BM25 search over their chunks.

    Writes go through one connection guarded by a lock; reads use one connection
    per worker thread. Everything runs in worker threads, so the event loop never
    waits on disk. Use as `async with KnowledgeIndex(path) as index:` (or call `open`
    and `aclose`): opening finishes any term-index work a crash left behind.
    """

    def __init__(self, path: Path, *, commit_delay_s: float = _COMMIT_DELAY_S) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._migrate()
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._path = path
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._terms = TermIndex(path.with_name(path.stem + ".terms"))
        # True while the outbox may hold changes the term index has not committed. Starts True so
        # the first sync also checks the term index against the catalog (see `_apply_outbox`).
        self._sync_owed = True
        self._syncing = False  # a sync's commit is under way: searches wait for it
        self._checked = False
        self._sync_lock = asyncio.Lock()
        self._release_timer: asyncio.TimerHandle | None = None
        self._commit_timer: asyncio.TimerHandle | None = None
        self._commit_delay_s = commit_delay_s
        self._background: set[asyncio.Task[None]] = set()

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

    async def open(self) -> KnowledgeIndex:
        """Bring the term index up to date with the catalog (a rebuild if it was lost), after
        recomputing terms stored by an earlier tokenizer."""
        await asyncio.to_thread(self._retokenize_if_outdated)
        await self.sync()
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

    async def __aenter__(self) -> KnowledgeIndex:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Finish the owed sync, release the term index's writer, and close the database."""
        if self._commit_timer is not None:
            self._commit_timer.cancel()
            self._commit_timer = None
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        try:
            await self.sync()
        except Exception:  # the outbox keeps the work for the next start
            log.exception("could not update the lexical index before closing")
        if self._release_timer is not None:
            self._release_timer.cancel()
        try:
            await self._release_writer()
        finally:
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
            reader = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            reader.execute("PRAGMA query_only = ON")
            self._local.connection = reader
            with self._lock:
                self._readers.append(reader)
        return reader

    async def _read(self, function: Callable[[*_Args], _T], *args: *_Args) -> _T:
        return await asyncio.to_thread(function, *args)

    async def _read_terms(self, function: Callable[[*_Args], _T], *args: *_Args) -> _T:
        """A read that needs the term index: first let it catch up with the catalog (or finish doing so)."""
        if self._sync_owed or self._syncing:
            try:
                await self.sync()
            except Exception:  # stale lexical results beat no answer; the outbox keeps the work
                log.exception("could not update the lexical index; searching it as it is")
        return await asyncio.to_thread(function, *args)

    async def _write(self, function: Callable[[*_Args], _T], *args: *_Args) -> _T:
        def locked() -> _T:
            with self._lock:
                return function(*args)

        result = await asyncio.to_thread(locked)
        self._sync_owed = True
        # Group commit: writes arriving within `commit_delay_s` share one commit (each fsyncs and
        # may merge segments). A search does not wait for the delay: it syncs at once.
        if self._commit_timer is None:
            self._commit_timer = asyncio.get_running_loop().call_later(self._commit_delay_s, self._commit_later)
        return result

    def _commit_later(self) -> None:
        self._commit_timer = None
        self._track(asyncio.ensure_future(self._sync_in_background()))

    # --- the term index -----------------------------------------------------------------------------
    async def sync(self) -> None:
        """Apply every catalog change the term index has not seen yet, and commit it."""
        async with self._sync_lock:
            if not self._sync_owed:
                return
            # Cleared before the work: a write landing meanwhile sets it again and is synced next time.
            self._sync_owed = False
            self._syncing = True
            work = asyncio.ensure_future(asyncio.to_thread(self._apply_outbox))
            try:
                await asyncio.shield(work)
            except asyncio.CancelledError:
                # The thread cannot be stopped: hold the lock until it ends, so no second sync runs beside it.
                await asyncio.wait([work])
                if work.exception() is not None:
                    self._sync_owed = True
                raise
            except BaseException:
                self._sync_owed = True
                raise
            finally:
                self._syncing = False
                self._release_writer_later()

    def _release_writer_later(self) -> None:
        """Give up the term index's writer once writes have paused for `_WRITER_IDLE_S`."""
        if self._release_timer is not None:
            self._release_timer.cancel()
        self._release_timer = asyncio.get_running_loop().call_later(
            _WRITER_IDLE_S, lambda: self._track(asyncio.ensure_future(self._release_writer()))
        )

    async def _release_writer(self) -> None:
        async with self._sync_lock:
            await asyncio.to_thread(self._terms.release)

    def _track(self, task: asyncio.Task[None]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _sync_in_background(self) -> None:
        try:
            await self.sync()
        except Exception:  # retried by the next search or write
            log.exception("could not update the lexical index")

    def _apply_outbox(self) -> None:
        reader = self._reader()
        pending = reader.execute("SELECT seq, document_id FROM lexical_outbox ORDER BY seq").fetchall()
        first = not self._checked
        self._checked = True
        if first and self._terms.created:
            self._rebuild(pending)
            return
        if pending:
            changed = dict.fromkeys(document_id for _, document_id in pending)
            self._terms.write(self._documents_terms(changed))
            self._forget_outbox(pending[-1][0])
        # Once per open, a last check: a term index that disagrees with the catalog (say, restored
        # from another backup than the database) is rebuilt rather than trusted.
        if first and self._terms.count() != reader.execute("SELECT count(*) FROM chunks").fetchone()[0]:
            self._rebuild([])

    def _documents_terms(self, document_ids: Iterable[str]) -> Iterator[tuple[str, list[tuple[int, str, str]]]]:
        """Each document's rows for the term index, read as they are written: one document in memory
        at a time, however large the catalog."""
        for document_id in document_ids:
            yield document_id, self._term_rows(document_id)

    def _term_rows(self, document_id: str) -> list[tuple[int, str, str]]:
        rows = self._reader().execute(
            "SELECT c.rowid, d.platform, d.workspace, d.channel, c.terms FROM chunks c"
            " JOIN documents d ON d.id = c.document_id WHERE c.document_id = ?",
            (document_id,),
        )
        return [(rowid, Scope(platform, workspace, channel).key, terms)
                for rowid, platform, workspace, channel, terms in rows]

    def _rebuild(self, pending: list[tuple[int, str]]) -> None:
        documents = [row[0] for row in self._reader().execute("SELECT id FROM documents")]
        if documents:
            log.info("rebuilding the lexical index from the catalog", extra={"documents": len(documents)})
        self._terms.write(self._documents_terms(documents), clear_first=True)
        if pending:
            self._forget_outbox(pending[-1][0])

    def _forget_outbox(self, last_seq: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM lexical_outbox WHERE seq <= ?", (last_seq,))

    # --- writes -----------------------------------------------------------------
    def _replace_document(self, document: DocumentInfo, chunks: Sequence[Chunk],
                          chunk_terms: Sequence[Sequence[str]]) -> int:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            self._delete_rows(document.id)
            db.execute(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (document.id, document.scope.platform, document.scope.workspace, document.scope.channel,
                 document.source, document.title, document.content_hash, document.uploader, document.note,
                 document.chunk_count, document.size_bytes, document.ingested_at),
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

    # --- reads ------------------------------------------------------------------
    @staticmethod
    def _document(row: tuple[Any, ...]) -> DocumentInfo:
        return DocumentInfo(
            id=row[0], scope=Scope(row[1], row[2], row[3]), source=row[4], title=row[5],
            content_hash=row[6], uploader=row[7], note=row[8], chunk_count=row[9],
            size_bytes=row[10], ingested_at=row[11],
        )

    def _documents(self, scopes: Sequence[Scope]) -> list[DocumentInfo]:
        if not scopes:
            return []
        clause, params = _in_scopes(scopes, table="documents")
        rows = self._reader().execute(
            f"SELECT * FROM documents WHERE {clause} ORDER BY source COLLATE NOCASE", params
        ).fetchall()
        return [self._document(row) for row in rows]

    async def list_documents(self, scopes: Sequence[Scope]) -> list[DocumentInfo]:
        return await self._read(self._documents, list(scopes))

    def _get_document(self, document_id: str) -> DocumentInfo | None:
        row = self._reader().execute("SELECT * FROM documents WHERE id = ?", (document_id,)).fetchone()
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
                " d.platform, d.workspace, d.channel"
                f" FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id IN ({marks})",
                batch,
            )
            for row in rows:
                found[row[0]] = Chunk(
                    id=row[0], document_id=row[1], ordinal=row[2], text=row[3], location=row[4],
                    source=row[5], title=row[6], scope=Scope(row[7], row[8], row[9]),
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

    def _search(self, terms: Sequence[str], scopes: Sequence[Scope], limit: int,
                statistics: TermStatistics | None = None,
                ) -> tuple[list[tuple[str, float]], dict[str, list[str]]]:
        if not terms or not scopes:
            return [], {}
        wanted = list(dict.fromkeys(searchable_terms(terms)))
        if statistics is None:
            statistics = self._statistics(wanted, scopes)
        idf = statistics.bm25_idf(wanted)
        keys = [s.key for s in scopes]
        # Tantivy ranks with these scopes' term weights (`idf`) but the whole index's average chunk
        # length; each hit is rescored with these scopes' own, from its terms (read anyway for
        # reranking). A chunk tantivy ranked below the ones read scores at most `bound` times its
        # tantivy score by these scopes' statistics: more are read until none left can be among the
        # best. When the other scopes' chunk lengths make tantivy's ranking too unlike these scopes'
        # own for that (say, this channel's chunks are far shorter than the index's average), every
        # chunk of these scopes holding a term is read: how many that is, and so what is found,
        # depends on these scopes alone.
        found: dict[int, tuple[str, list[str]]] = {}
        exact: dict[str, float] = {}
        pool = limit + _LOOKAHEAD
        while True:
            ranked = self._terms.search(wanted, keys, limit=pool, idf=idf)
            unread = [rowid for rowid, _ in ranked if rowid not in found]
            for rowid, (chunk_id, chunk_terms) in self._hit_rows(unread, scopes).items():
                found[rowid] = (chunk_id, chunk_terms)
                exact[chunk_id] = statistics.bm25(chunk_terms, idf)
            found.update((rowid, ("", [])) for rowid in unread if rowid not in found)  # gone: not read again
            if len(ranked) < pool:  # every chunk of these scopes holding a term was read
                break
            if len(exact) >= limit and self._none_missed(statistics, last_score=ranked[-1][1],
                                                         kth_score=sorted(exact.values())[-limit]):
                break
            if pool < _MAX_RESCORED_FACTOR * (limit + _LOOKAHEAD):
                pool *= 2
            else:
                # At most this many chunks of these scopes hold a term (deleted ones not yet merged away
                # counted), so one more read brings them all; at least double, should a commit since the
                # statistics were counted have added some.
                matching = sum(statistics.frequencies.get(term, 0) for term in wanted)
                pool = max(2 * pool, min(matching, statistics.chunks) + 1)
        rescored = sorted(exact.items(), key=lambda hit: (-hit[1], hit[0]))[:limit]
        terms_by_chunk = {chunk_id: chunk_terms for chunk_id, chunk_terms in found.values() if chunk_id}
        return rescored, {chunk_id: terms_by_chunk[chunk_id] for chunk_id, _ in rescored}

    def _none_missed(self, statistics: TermStatistics, *, last_score: float, kth_score: float) -> bool:
        """Whether no chunk tantivy ranked below `last_score` can beat `kth_score` by these statistics.

        Tantivy's score of a chunk differs from ours only in the average chunk length (the term
        weights are ours): per term, ours is at most max(1, ours / tantivy's) times as high. With
        these scopes' average above tantivy's, the ratio (tf + K_tantivy) / (tf + K_ours) of a term
        grows with the chunk's length and falls with tf, so the longest chunk at tf 1 bounds it closer.
        """
        if statistics.chunks == self._terms.index_chunks():
            index_average = statistics.average_length  # these scopes hold every chunk there is
        else:
            index_average = self._terms.index_average_length() or statistics.average_length
        bound = max(1.0, statistics.average_length / index_average)
        if bound > 1.0 and statistics.longest:
            length = stored_length(statistics.longest)
            tantivys = BM25_K1 * (1 - BM25_B + BM25_B * length / index_average)
            ours = BM25_K1 * (1 - BM25_B + BM25_B * length / statistics.average_length)
            bound = min(bound, (1 + tantivys) / (1 + ours))
        # Strictly below: a chunk tied with the last of the best could displace it (ties go to the
        # smaller chunk id, so no order of the index decides between them).
        return bound * last_score < kth_score * (1 - _SCORE_TOLERANCE)

    def _hit_rows(self, rowids: Sequence[int], scopes: Sequence[Scope]) -> dict[int, tuple[str, list[str]]]:
        """(chunk id, terms) of the hits that are chunks of `scopes` in the catalog."""
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

    def _lexical_candidates(self, terms: Sequence[str], scopes: Sequence[Scope], limit: int, max_share: float,
                            max_terms: int) -> LexicalCandidates:
        statistics = self._statistics(terms, scopes)
        selected = statistics.selective(terms, max_share=max_share, max_terms=max_terms) if terms else []
        hits, terms_by_chunk = self._search(selected, scopes, limit, statistics)
        return LexicalCandidates(statistics=statistics, hits=hits, chunk_terms=terms_by_chunk)

    async def lexical_candidates(self, terms: Sequence[str], scopes: Sequence[Scope], *, limit: int,
                                 max_share: float, max_terms: int) -> LexicalCandidates:
        """Statistics of `terms` and the best BM25 hits within `scopes`, with their terms, in one read.

        The statistics, and so the BM25 scores, count the chunks of `scopes` only.

        Only the selective terms are searched for (see `TermStatistics.selective`). One call, one
        worker-thread hop: under load each hop waits for a busy event loop, so fewer is faster.
        """
        return await self._read_terms(self._lexical_candidates, list(terms), list(scopes), limit, max_share,
                                      max_terms)

    async def search(self, terms: Sequence[str], scopes: Sequence[Scope], *, limit: int) -> list[tuple[str, float]]:
        """Best chunks by BM25 within `scopes`, as (chunk id, score) with higher = better."""
        hits, _ = await self._read_terms(self._search, list(terms), list(scopes), limit)
        return hits

    def _statistics(self, terms: Iterable[str], scopes: Sequence[Scope]) -> TermStatistics:
        return TermStatistics.of(self._terms.scope_statistics(terms, [s.key for s in scopes]))

    def _idf(self, terms: Iterable[str], scopes: Sequence[Scope]) -> dict[str, float]:
        terms = list(terms)
        counted = self._terms.scope_statistics(terms, [s.key for s in scopes], with_lengths=False)
        return TermStatistics.of(counted).idf(terms)

    async def idf(self, terms: Iterable[str], scopes: Sequence[Scope]) -> dict[str, float]:
        """BM25 inverse document frequency of each term among the chunks of `scopes`."""
        return await self._read_terms(self._idf, list(terms), list(scopes))
