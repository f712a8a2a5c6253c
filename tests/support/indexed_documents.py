"""Documents as the knowledge index stores them, built directly (no parsing or chunking), in two channels."""

from __future__ import annotations

from agent.records import Chunk
from bot.core.values import DocumentInfo, Scope

SALES = Scope("slack", "T1", "C-sales")
ENGINEERING = Scope("slack", "T1", "C-eng")


def indexed_document(doc_id: str, scope: Scope, texts: list[str]) -> tuple[DocumentInfo, list[Chunk], list[list[str]]]:
    """What `KnowledgeIndex.replace_document` takes for a document of one chunk per text: info, chunks, terms."""
    info = DocumentInfo(id=doc_id, scope=scope, source=f"{doc_id}.md", title=doc_id, content_hash=doc_id,
                        uploader="U1", chunk_count=len(texts), size_bytes=sum(map(len, texts)), ingested_at=0.0)
    chunks = [Chunk(id=f"{doc_id}#{n}", document_id=doc_id, ordinal=n, text=text, source=info.source,
                    title=doc_id, location="", scope=scope) for n, text in enumerate(texts)]
    return info, chunks, [c.index_terms() for c in chunks]
