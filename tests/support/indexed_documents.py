"""Documents as the catalog stores them, built directly (no parsing or chunking), in two channels; and the
catalog with its term index and BM25 search, opened as the bot opens them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from agent.catalog import Catalog
from agent.lexical_search import LexicalSearch
from agent.records import Chunk
from agent.term_sync import TermIndexSync
from bot.core.values import DocumentInfo, Scope

SALES = Scope("slack", "T1", "C-sales")
ENGINEERING = Scope("slack", "T1", "C-eng")


def indexed_document(doc_id: str, scope: Scope, texts: list[str]) -> tuple[DocumentInfo, list[Chunk], list[list[str]]]:
    """What `Catalog.replace_document` takes for a document of one chunk per text: info, chunks, terms."""
    info = DocumentInfo(id=doc_id, scope=scope, source=f"{doc_id}.md", title=doc_id, content_hash=doc_id,
                        uploader="U1", chunk_count=len(texts), size_bytes=sum(map(len, texts)), ingested_at=0.0)
    chunks = [Chunk(id=f"{doc_id}#{n}", document_id=doc_id, ordinal=n, text=text, source=info.source,
                    title=doc_id, location="", scope=scope) for n, text in enumerate(texts)]
    return info, chunks, [c.index_terms() for c in chunks]


@asynccontextmanager
async def open_knowledge(path: Path, **sync_options: float) -> AsyncIterator[tuple[Catalog, LexicalSearch]]:
    """The catalog at `path`, its term index kept in step, and BM25 search over both, as the bot opens them."""
    async with Catalog(path) as catalog, TermIndexSync.beside(catalog, **sync_options) as terms:
        yield catalog, LexicalSearch(catalog=catalog, terms=terms)
