"""The document catalog and the lexical (BM25) index, in one SQLite file.

SQLite's FTS5 gives a persistent, transactional BM25 index with a small
memory footprint. Text is tokenized by `agent.text.lexical_tokens` before it
reaches FTS5 (character bigrams for Korean), so FTS5 only splits on spaces.

Scope is enforced inside the FTS query itself: every chunk's indexed text
carries one synthetic scope term, and every search ANDs the allowed scope
terms with the question's terms, so no chunk from another channel can match.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from agent.records import Chunk, DocumentInfo
from bot.events import Scope

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
    text TEXT NOT NULL, location TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks (document_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5 (terms, tokenize = 'unicode61 remove_diacritics 0');
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab (chunks_fts, row);
"""


_MIN_CORPUS_FOR_IDF = 1000
_TOTAL_CACHE_S = 5.0


@dataclass(frozen=True, slots=True)
class TermStatistics:
    """Document frequencies of some terms and the size of the index they were counted in."""

    chunks: int
    frequencies: dict[str, int]

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
        limit = max_share * self.chunks
        kept = [t for t in unique if self.frequencies.get(t, 0) <= limit][:max_terms]
        return kept or unique[:1]


@dataclass(frozen=True, slots=True)
class LexicalCandidates:
    """One lexical search: the statistics of the query's terms, the BM25 hits, and their terms."""

    statistics: TermStatistics
    hits: list[tuple[str, float]]
    """(chunk id, BM25 score) with higher = better, best first."""
    chunk_terms: dict[str, list[str]]
    """The indexed terms of each hit, in text order."""


def scope_term(scope: Scope) -> str:
    """The synthetic index term that marks a chunk's scope (alphanumeric, never a real word)."""
    return "zzscope" + hashlib.blake2b(scope.key.encode(), digest_size=10).hexdigest()


def _indexed_terms(stored: str) -> list[str]:
    """A chunk's query-comparable terms from its FTS5 text: the first is the synthetic scope marker."""
    return stored.split(" ")[1:]


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


class KnowledgeIndex:
    """Catalog of documents plus BM25 search over their chunks.

    Writes go through one connection guarded by a lock; reads use one connection
    per worker thread. Everything runs in worker threads, so the event loop never
    waits on disk.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._path = path
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._total_cache: tuple[int, float] | None = None

    def close(self) -> None:
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

    async def _read(self, function, *args):  # type: ignore[no-untyped-def]
        return await asyncio.to_thread(function, *args)

    async def _run(self, function, *args):  # type: ignore[no-untyped-def]
        def locked():  # type: ignore[no-untyped-def]
            with self._lock:
                return function(*args)

        return await asyncio.to_thread(locked)

    # --- writes -----------------------------------------------------------------
    def _replace_document(self, document: DocumentInfo, chunks: Sequence[Chunk],
                          chunk_terms: Sequence[Sequence[str]]) -> None:
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
            marker = scope_term(document.scope)
            for chunk, terms in zip(chunks, chunk_terms, strict=True):
                cursor = db.execute(
                    "INSERT INTO chunks (id, document_id, ordinal, text, location) VALUES (?,?,?,?,?)",
                    (chunk.id, chunk.document_id, chunk.ordinal, chunk.text, chunk.location),
                )
                db.execute(
                    "INSERT INTO chunks_fts (rowid, terms) VALUES (?, ?)",
                    (cursor.lastrowid, marker + " " + " ".join(terms)),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _delete_rows(self, document_id: str) -> None:
        self._db.execute(
            "DELETE FROM chunks_fts WHERE rowid IN (SELECT rowid FROM chunks WHERE document_id = ?)",
            (document_id,),
        )
        self._db.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
        self._db.execute("DELETE FROM documents WHERE id = ?", (document_id,))

    def _delete_document(self, document_id: str) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._delete_rows(document_id)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    async def replace_document(self, document: DocumentInfo, chunks: Sequence[Chunk],
                               chunk_terms: Sequence[Sequence[str]]) -> None:
        """Atomically put `document` and its chunks in place of any earlier version."""
        await self._run(self._replace_document, document, chunks, chunk_terms)

    async def delete_document(self, document_id: str) -> None:
        await self._run(self._delete_document, document_id)

    # --- reads ------------------------------------------------------------------
    @staticmethod
    def _document(row: tuple) -> DocumentInfo:  # type: ignore[type-arg]
        return DocumentInfo(
            id=row[0], scope=Scope(row[1], row[2], row[3]), source=row[4], title=row[5],
            content_hash=row[6], uploader=row[7], note=row[8], chunk_count=row[9],
            size_bytes=row[10], ingested_at=row[11],
        )

    def _documents(self, scopes: Sequence[Scope]) -> list[DocumentInfo]:
        if not scopes:
            return []
        clause = " OR ".join("(platform=? AND workspace=? AND channel=?)" for _ in scopes)
        params = [part for s in scopes for part in (s.platform, s.workspace, s.channel)]
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

    async def get_chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        return await self._read(self._chunks, list(ids))

    def _search(self, terms: Sequence[str], scopes: Sequence[Scope], limit: int,
                ) -> tuple[list[tuple[str, float]], dict[str, list[str]]]:
        if not terms or not scopes:
            return [], {}
        allowed = " OR ".join(_quote(scope_term(s)) for s in scopes)
        wanted = " OR ".join(_quote(t) for t in dict.fromkeys(terms))
        # Rank inside FTS5 alone, then look up the ids of the few winners: joining every
        # match to `chunks` before the LIMIT doubles the cost of a search.
        rows = self._reader().execute(
            "SELECT rowid, bm25(chunks_fts) AS rank, terms FROM chunks_fts WHERE chunks_fts MATCH ?"
            " ORDER BY rank LIMIT ?",
            (f"({allowed}) AND ({wanted})", limit),
        ).fetchall()
        if not rows:
            return [], {}
        marks = ",".join("?" * len(rows))
        ids = dict(self._reader().execute(f"SELECT rowid, id FROM chunks WHERE rowid IN ({marks})", [r[0] for r in rows]))
        # FTS5's bm25() is lower-is-better; flip it so higher is better everywhere.
        hits = [(ids[rowid], -rank) for rowid, rank, _ in rows if rowid in ids]
        terms_by_chunk = {ids[rowid]: _indexed_terms(text) for rowid, _, text in rows if rowid in ids}
        return hits, terms_by_chunk

    def _lexical_candidates(self, terms: Sequence[str], scopes: Sequence[Scope], limit: int, max_share: float,
                            max_terms: int) -> LexicalCandidates:
        statistics = self._statistics(terms)
        selected = statistics.selective(terms, max_share=max_share, max_terms=max_terms) if terms else []
        hits, terms_by_chunk = self._search(selected, scopes, limit)
        return LexicalCandidates(statistics=statistics, hits=hits, chunk_terms=terms_by_chunk)

    async def lexical_candidates(self, terms: Sequence[str], scopes: Sequence[Scope], *, limit: int,
                                 max_share: float, max_terms: int) -> LexicalCandidates:
        """Statistics of `terms` and the best BM25 hits within `scopes`, with their terms, in one read.

        Only the selective terms are searched for (see `TermStatistics.selective`). One call, one
        worker-thread hop: under load each hop waits for a busy event loop, so fewer is faster.
        """
        return await self._read(self._lexical_candidates, list(terms), list(scopes), limit, max_share, max_terms)

    def _chunk_terms(self, ids: Sequence[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for start in range(0, len(ids), 500):
            batch = list(ids[start : start + 500])
            marks = ",".join("?" * len(batch))
            rows = self._reader().execute(
                "SELECT c.id, f.terms FROM chunks c JOIN chunks_fts f ON f.rowid = c.rowid"
                f" WHERE c.id IN ({marks})",
                batch,
            )
            for chunk_id, terms in rows:
                found[chunk_id] = _indexed_terms(terms)
        return found

    async def chunk_terms(self, ids: Sequence[str]) -> dict[str, list[str]]:
        """The indexed terms of each chunk, in text order (title, location, then body)."""
        return await self._read(self._chunk_terms, list(ids))

    async def search(self, terms: Sequence[str], scopes: Sequence[Scope], *, limit: int) -> list[tuple[str, float]]:
        """Best chunks by BM25 within `scopes`, as (chunk id, score) with higher = better."""
        hits, _ = await self._read(self._search, list(terms), list(scopes), limit)
        return hits

    def _chunk_count(self) -> int:
        # count(*) walks the whole table; IDF does not need it exact to the second.
        now = time.monotonic()
        if self._total_cache is None or now - self._total_cache[1] > _TOTAL_CACHE_S:
            self._total_cache = (self._reader().execute("SELECT count(*) FROM chunks").fetchone()[0], now)
        return self._total_cache[0]

    def _statistics(self, terms: Iterable[str]) -> TermStatistics:
        unique = list(dict.fromkeys(terms))
        frequencies: dict[str, int] = {}
        for start in range(0, len(unique), 500):
            batch = unique[start : start + 500]
            marks = ",".join("?" * len(batch))
            for term, count in self._reader().execute(
                f"SELECT term, doc FROM chunks_vocab WHERE term IN ({marks})", batch
            ):
                frequencies[term] = count
        return TermStatistics(chunks=self._chunk_count(), frequencies=frequencies)

    def _idf(self, terms: Iterable[str]) -> dict[str, float]:
        terms = list(terms)
        return self._statistics(terms).idf(terms)

    async def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """BM25 inverse document frequency of each term over the whole index."""
        return await self._read(self._idf, list(terms))
