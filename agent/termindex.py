"""BM25 over the chunks' index terms, in a tantivy index kept beside the catalog.

Why not SQLite FTS5, which the catalog lives in: FTS5 computes bm25() for every matching row
before it can sort, so a question whose terms occur in 8,000 of 100,000 chunks cost 15-30 ms
per search. Tantivy (a Rust search library) answers the same searches in about a millisecond,
with the same BM25: recall on the dev splits did not change (docs/benchmarks.md).

This index is derived data. The catalog (`agent.catalog.Catalog`) is the source of truth
and tells this index what changed (`agent.term_sync`); if this directory is lost or
unreadable, it is rebuilt from the catalog. Text arrives already tokenized
(`agent.text.lexical_tokens`), so the index only splits on spaces.

Tantivy's BM25 weighs terms by statistics of the whole index, every channel's chunks together;
a question may only depend on the chunks it may see, so `scope_statistics` counts within scopes,
and `search` takes term weights counted there (see `agent.lexical_search` for the rest).

Every method blocks (disk, fsync on commit): callers run them in worker threads, and one
`write` or `release` at a time.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import time
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import tantivy

_WRITER_HEAP_BYTES = 64_000_000
_WRITER_WAIT_S = 10.0
# Longer "words" (hashes, base64 pasted into a document) are never asked about; leaving them out
# keeps the index small, and tantivy would drop any over 65,530 bytes anyway.
MAX_TERM_CHARS = 100
# Tantivy's BM25 (src/query/bm25.rs).
BM25_K1 = 1.2
BM25_B = 0.75


def _field_norms() -> list[int]:
    """The 256 lengths tantivy rounds a field's length down to: exact up to 40, then groups of
    eight values whose step doubles (42, 44 ... 56, 60 ... 88, 96 ...)."""
    norms = list(range(41))
    step = 2
    while len(norms) < 256:
        for _ in range(8):
            if len(norms) == 256:
                break
            norms.append(norms[-1] + step)
        step *= 2
    return norms


_FIELD_NORMS = _field_norms()


def stored_length(length: int) -> int:
    """A chunk's number of terms as tantivy's BM25 sees it (stored in one byte, rounded down)."""
    return _FIELD_NORMS[bisect_right(_FIELD_NORMS, length) - 1]


def bm25_idf(frequency: int, chunks: int) -> float:
    """BM25's inverse document frequency of a term found in `frequency` of `chunks` chunks."""
    return math.log(1 + (chunks - frequency + 0.5) / (frequency + 0.5))


def searchable_terms(terms: Iterable[str]) -> list[str]:
    """The terms the index keeps of a chunk's (or a query's) terms."""
    return [t for t in terms if t and len(t) <= MAX_TERM_CHARS]


@dataclass(frozen=True, slots=True)
class ScopeStatistics:
    """Counts over the chunks of some scopes only: what BM25 needs to weigh terms as those scopes alone would."""

    chunks: int
    terms: int
    """Terms in those chunks, all told (for their average length)."""
    frequencies: dict[str, int]
    """Chunks of those scopes containing each term (terms found in none are left out)."""
    longest: int = 0
    """Terms in the longest of those chunks (0 when not counted)."""


def _scope_tag(scope_key: str) -> str:
    """A short name of a scope for `scoped` terms (scope keys are the platforms' ids: any characters)."""
    return hashlib.blake2b(scope_key.encode(), digest_size=8).hexdigest()


# The tag under which every chunk is counted, whatever its scope: the index-wide figures tantivy's BM25 uses.
_EVERY_SCOPE = "*"
_NO_STATISTICS = ScopeStatistics(chunks=0, terms=0, frequencies={})


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("rowid", stored=False, indexed=False, fast=True)
    builder.add_text_field("document", stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("scope", stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("terms", stored=False, tokenizer_name="whitespace", index_option="freq")
    # Statistics by scope, each a term's document frequency (a dictionary look-up, where counting a
    # query's matches costs a search): "<scope tag>:<term>" for each term of a chunk,
    # "<scope tag>#<number of terms>" for the average chunk length, and the same two for the
    # whole index under the tag `*` ("*" alone, and "*#<number of terms>").
    builder.add_text_field("scoped", stored=False, tokenizer_name="whitespace", index_option="basic")
    return builder.build()


class TermIndex:
    """Chunks' terms by catalog row id, searchable with BM25 within a set of scopes."""

    def __init__(self, path: Path) -> None:
        self._schema = _schema()
        self._path = path
        self._writer: tantivy.IndexWriter | None = None
        self.created = False
        """True when this directory held no usable index, so it starts empty and needs a rebuild."""
        try:
            if not tantivy.Index.exists(str(path)):
                raise FileNotFoundError(path)
            self._index = tantivy.Index.open(str(path))
            if self._index.schema != self._schema:  # written by a version with other fields
                raise ValueError("other schema")
            self._index.searcher()  # reads the segment list: fails here, not in the first search
        except (OSError, ValueError):
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True, exist_ok=True)
            self._index = tantivy.Index(self._schema, path=str(path), reuse=False)
            self.created = True

    def write(self, documents: Iterable[tuple[str, Iterable[tuple[int, str, str]]]], *,
              clear_first: bool = False) -> None:
        """Put each document's chunks, as (row id, scope key, space-separated terms), in place of
        what the index holds for it (no rows: the document is gone), and commit durably."""
        if self._writer is None:
            self._writer = self._open_writer()
        writer = self._writer
        try:
            if clear_first:
                writer.delete_all_documents()
            for document_id, rows in documents:
                writer.delete_documents_by_term("document", document_id)
                for rowid, scope_key, terms in rows:
                    writer.add_document(self._document(document_id, rowid, scope_key, terms))
            writer.commit()
        except BaseException:
            # Drop this writer with its staged changes; the caller's outbox still holds the work.
            self._writer = None
            try:
                writer.rollback()
                writer.wait_merging_threads()
            except Exception:  # noqa: BLE001 - the first error is the one to report
                pass
            raise
        self._index.reload()

    def release(self) -> None:
        """Let the writer finish its background merges and give up its lock file.

        Tantivy allows one writer at a time, and processes sharing the data directory take turns:
        the owner keeps the writer through a burst of writes (a new writer per commit costs twice
        as much) and releases it once writes pause.
        """
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.wait_merging_threads()

    def _open_writer(self) -> tantivy.IndexWriter:
        deadline = time.monotonic() + _WRITER_WAIT_S
        while True:
            try:
                return self._index.writer(heap_size=_WRITER_HEAP_BYTES, num_threads=1)
            except ValueError as exc:  # another process's writer holds the lock file
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the lexical index {self._path} stayed locked by another process") from exc
                time.sleep(0.05)

    def _document(self, document_id: str, rowid: int, scope_key: str, terms: str) -> tantivy.Document:
        document = tantivy.Document()
        document.add_unsigned("rowid", rowid)
        document.add_text("document", document_id)
        document.add_text("scope", scope_key)
        kept = searchable_terms(terms.split(" "))
        document.add_text("terms", " ".join(kept))
        tag = _scope_tag(scope_key)
        scoped = [f"{tag}:{term}" for term in dict.fromkeys(kept)]
        lengths = [f"{tag}#{len(kept)}", _EVERY_SCOPE, f"{_EVERY_SCOPE}#{len(kept)}"]
        document.add_text("scoped", " ".join([*scoped, *lengths]))
        return document

    # --- reads ------------------------------------------------------------------------------------
    def count(self) -> int:
        """Chunks in the committed index."""
        return self._index.searcher().num_docs

    def scope_statistics(self, terms: Iterable[str], scope_keys: Sequence[str], *,
                         with_lengths: bool = True) -> ScopeStatistics:
        """Chunks, their terms (unless not `with_lengths`: 0 then), and the document frequency of
        each of `terms`, counted within the scopes only: nothing other scopes hold shows in them.

        Counted as tantivy counts for BM25: chunks deleted but not yet merged away included (only
        ever chunks of the same scopes)."""
        keys = list(dict.fromkeys(scope_keys))
        if not keys:
            return _NO_STATISTICS
        searcher = self._index.searcher()
        tags = [_scope_tag(key) for key in keys]
        total = longest = 0
        if with_lengths:
            chunks, total, longest = self._lengths(searcher, tags)
        else:
            chunks = sum(searcher.doc_freq("scope", key) for key in keys)
        frequencies = {}
        if chunks:
            for term in dict.fromkeys(searchable_terms(terms)):
                frequency = sum(searcher.doc_freq("scoped", f"{tag}:{term}") for tag in tags)
                if frequency:
                    frequencies[term] = frequency
        return ScopeStatistics(chunks=chunks, terms=total, frequencies=frequencies, longest=longest)

    @staticmethod
    def _lengths(searcher: tantivy.Searcher, tags: Sequence[str]) -> tuple[int, int, int]:
        """(chunks, their terms all told, the most terms of one) under these tags: one walk over the
        distinct chunk lengths."""
        chunks = total = longest = 0
        for tag in tags:
            for length_term, count in searcher.terms_with_prefix("scoped", f"{tag}#"):
                length = int(length_term[len(tag) + 1:])
                chunks += count
                total += count * length
                longest = max(longest, length)
        return chunks, total, longest

    def index_chunks(self) -> int:
        """Chunks in the whole index as tantivy's BM25 counts them (deleted ones not yet merged away included)."""
        return self._index.searcher().doc_freq("scoped", _EVERY_SCOPE)

    def index_average_length(self) -> float | None:
        """Average terms per chunk in the whole index, as tantivy's BM25 uses it (None if empty)."""
        chunks, total, _ = self._lengths(self._index.searcher(), [_EVERY_SCOPE])
        return total / chunks if chunks else None

    def search(self, terms: Sequence[str], scope_keys: Sequence[str], *, limit: int,
               idf: dict[str, float] | None = None) -> list[tuple[int, float]]:
        """(row id, BM25 score) of the best chunks within the scopes that contain any of `terms`.

        Tantivy weighs each term by its frequency in the whole index; with `idf`, each term's
        weight is scaled to the one given (say, counted within the scopes alone). The length
        normalisation still uses the whole index's average chunk length (`index_average_length`).
        """
        terms = list(dict.fromkeys(searchable_terms(terms)))
        if not terms or not scope_keys:
            return []
        schema = self._schema
        searcher = self._index.searcher()
        indexed = searcher.doc_freq("scoped", _EVERY_SCOPE) if idf is not None else 0
        clauses = []
        for term in terms:
            query = tantivy.Query.term_query(schema, "terms", term)
            if idf is not None and indexed:
                own = bm25_idf(searcher.doc_freq("terms", term), indexed)
                query = tantivy.Query.boost_query(query, idf.get(term, 0.0) / own)
            clauses.append((tantivy.Occur.Should, query))
        wanted = tantivy.Query.boolean_query(clauses)
        # The scope is a filter, not evidence: a constant score of zero leaves the ranking to BM25.
        allowed = tantivy.Query.const_score_query(tantivy.Query.term_set_query(schema, "scope", list(scope_keys)), 0.0)
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, wanted), (tantivy.Occur.Must, allowed)])
        hits = searcher.search(query, limit, count=False).hits
        if not hits:
            return []
        # Every document has its integer rowid: the values are never None.
        rowids = cast("list[int]", searcher.fast_field_values("rowid", [address for _, address in hits]))
        return [(int(rowid), float(score)) for (score, _), rowid in zip(hits, rowids, strict=True)]
