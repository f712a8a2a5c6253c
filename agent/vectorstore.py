"""Dense vectors in Chroma: embedded `PersistentClient` by default, a Chroma server when configured.

We always pass our own vectors; the collection is created without an
embedding function so Chroma never reaches for its downloadable default.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import chromadb

from agent.records import Chunk
from bot.events import Scope


class VectorStoreError(RuntimeError):
    """The vector store failed; the message is fit to show a user."""


@dataclass(frozen=True, slots=True)
class VectorSnapshot:
    """Stored entries kept aside so a failed replacement can put them back."""

    ids: list[str]
    embeddings: list[list[float]]
    documents: list[str]
    metadatas: list[dict[str, Any]]


def scope_filter(scopes: Sequence[Scope]) -> dict[str, Any]:
    """A Chroma `where` clause matching any of `scopes` exactly."""
    clauses = [
        {"$and": [{"platform": s.platform}, {"workspace": s.workspace}, {"channel": s.channel}]}
        for s in scopes
    ]
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


class ChromaVectorStore:
    """One Chroma collection per embedding model, so vector spaces never mix."""

    def __init__(self, client: Any, *, embedder_name: str) -> None:
        self._client = client
        self._collection = client.get_or_create_collection(
            name=f"teambot-{embedder_name}"[:63],
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
        )
        self._write_lock = threading.Lock()
        self._max_batch = max(1, min(5000, client.get_max_batch_size()))

    @classmethod
    def persistent(cls, path: Path, *, embedder_name: str) -> "ChromaVectorStore":
        path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(
            path=str(path), settings=chromadb.Settings(anonymized_telemetry=False, allow_reset=False)
        )
        return cls(client, embedder_name=embedder_name)

    @classmethod
    def remote(cls, host: str, port: int, *, ssl: bool, embedder_name: str) -> "ChromaVectorStore":
        try:
            client = chromadb.HttpClient(
                host=host, port=port, ssl=ssl, settings=chromadb.Settings(anonymized_telemetry=False)
            )
        except Exception as exc:  # chromadb raises plain Exceptions when the server is unreachable
            raise VectorStoreError(f"cannot reach the Chroma server at {host}:{port}: {exc}") from exc
        return cls(client, embedder_name=embedder_name)

    async def _call(self, function, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except VectorStoreError:
            raise
        except Exception as exc:  # surface any Chroma failure as one clear error type
            raise VectorStoreError(f"vector store error: {exc}") from exc

    def _add(self, ids: list[str], embeddings: list[list[float]], documents: list[str],
             metadatas: list[dict[str, Any]]) -> None:
        with self._write_lock:
            for start in range(0, len(ids), self._max_batch):
                end = start + self._max_batch
                self._collection.add(
                    ids=ids[start:end], embeddings=embeddings[start:end],
                    documents=documents[start:end], metadatas=metadatas[start:end],
                )

    async def add(self, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]], *,
                  document_metadata: dict[str, str | int | float] | None = None) -> None:
        """Store chunks with their vectors; `document_metadata` (uploader, hash, time) goes on each."""
        extra = document_metadata or {}
        await self._call(
            self._add, [c.id for c in chunks], [list(e) for e in embeddings],
            [c.text for c in chunks], [{**c.metadata(), **extra} for c in chunks],
        )

    async def restore(self, snapshot: VectorSnapshot) -> None:
        if snapshot.ids:
            await self._call(self._add, snapshot.ids, snapshot.embeddings, snapshot.documents, snapshot.metadatas)

    def _delete(self, ids: list[str]) -> None:
        with self._write_lock:
            for start in range(0, len(ids), self._max_batch):
                self._collection.delete(ids=ids[start : start + self._max_batch])

    async def delete(self, ids: Sequence[str]) -> None:
        if ids:
            await self._call(self._delete, list(ids))

    def _snapshot(self, ids: list[str]) -> VectorSnapshot:
        if not ids:
            return VectorSnapshot([], [], [], [])
        got = self._collection.get(ids=ids, include=["embeddings", "documents", "metadatas"])
        return VectorSnapshot(
            ids=list(got["ids"]),
            embeddings=[list(map(float, e)) for e in got["embeddings"]],
            documents=list(got["documents"]),
            metadatas=[dict(m) for m in got["metadatas"]],
        )

    async def snapshot(self, ids: Sequence[str]) -> VectorSnapshot:
        return await self._call(self._snapshot, list(ids))

    def _query(self, embedding: list[float], scopes: list[Scope], limit: int) -> list[tuple[str, float]]:
        result = self._collection.query(
            query_embeddings=[embedding], n_results=limit, where=scope_filter(scopes), include=["distances"]
        )
        # cosine distance -> similarity in [-1, 1]
        return [(i, 1.0 - d) for i, d in zip(result["ids"][0], result["distances"][0])]

    async def query(self, embedding: Sequence[float], scopes: Sequence[Scope], *, limit: int) -> list[tuple[str, float]]:
        """Nearest chunks within `scopes` as (chunk id, cosine similarity)."""
        if not scopes:
            return []
        return await self._call(self._query, list(embedding), list(scopes), limit)

    async def count(self) -> int:
        return await self._call(self._collection.count)

    async def ping(self) -> None:
        await self._call(self._client.heartbeat)
