"""BM25 over the chunks' index terms, in a tantivy index kept beside the catalog.

Why not SQLite FTS5, which the catalog lives in: FTS5 computes bm25() for every matching row
before it can sort, so a question whose terms occur in 8,000 of 100,000 chunks cost 15-30 ms
per search. Tantivy (a Rust search library) answers the same searches in about a millisecond,
with the same BM25: recall on the dev splits did not change (docs/benchmarks.md).

This index is derived data. The catalog (`agent.lexical.KnowledgeIndex`) is the source of
truth and tells this index what changed; if this directory is lost or unreadable, it is
rebuilt from the catalog. Text arrives already tokenized (`agent.text.lexical_tokens`), so
the index only splits on spaces.

Every method blocks (disk, fsync on commit): callers run them in worker threads, and one
`write` or `release` at a time.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Iterable, Sequence

import tantivy

_WRITER_HEAP_BYTES = 64_000_000
_WRITER_WAIT_S = 10.0
# Longer "words" (hashes, base64 pasted into a document) are never asked about; leaving them out
# keeps the index small, and tantivy would drop any over 65,530 bytes anyway.
_MAX_TERM_CHARS = 100


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("rowid", stored=False, indexed=False, fast=True)
    builder.add_text_field("document", stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("scope", stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("terms", stored=False, tokenizer_name="whitespace", index_option="freq")
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
        document.add_text("terms", " ".join(t for t in terms.split(" ") if len(t) <= _MAX_TERM_CHARS))
        return document

    # --- reads ------------------------------------------------------------------------------------
    def count(self) -> int:
        """Chunks in the committed index."""
        return self._index.searcher().num_docs

    def frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        """Number of chunks containing each term (terms found nowhere are left out)."""
        searcher = self._index.searcher()
        found = {}
        for term in dict.fromkeys(terms):
            if len(term) <= _MAX_TERM_CHARS:
                frequency = searcher.doc_freq("terms", term)
                if frequency:
                    found[term] = frequency
        return found

    def search(self, terms: Sequence[str], scope_keys: Sequence[str], *, limit: int) -> list[tuple[int, float]]:
        """(row id, BM25 score) of the best chunks within the scopes that contain any of `terms`."""
        terms = [t for t in dict.fromkeys(terms) if len(t) <= _MAX_TERM_CHARS]
        if not terms or not scope_keys:
            return []
        schema = self._schema
        wanted = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "terms", term)) for term in terms]
        )
        # The scope is a filter, not evidence: a constant score of zero leaves the ranking to BM25.
        allowed = tantivy.Query.const_score_query(tantivy.Query.term_set_query(schema, "scope", list(scope_keys)), 0.0)
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, wanted), (tantivy.Occur.Must, allowed)])
        searcher = self._index.searcher()
        hits = searcher.search(query, limit, count=False).hits
        if not hits:
            return []
        rowids = searcher.fast_field_values("rowid", [address for _, address in hits])
        return [(int(rowid), float(score)) for (score, _), rowid in zip(hits, rowids, strict=True)]
