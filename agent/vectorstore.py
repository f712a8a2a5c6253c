"""Dense vectors in Chroma: embedded `PersistentClient` by default, a Chroma server when configured.

We always pass our own vectors; collections are created without an
embedding function so Chroma never reaches for its downloadable default.

Chroma holds vectors and metadata, not the chunks' text: the catalog (SQLite) keeps the text
and a query needs only ids. Given documents, Chroma also feeds them to its own full-text index
(trigrams), which nothing here searches and which grows fast on Korean text: after 300 KorQuAD
paragraphs an `add` took 76 ms against 10 ms without the text.

Writes are applied behind the caller, many documents per Chroma call. Chroma's cost is mostly
per call, not per vector (3,200 vectors took 4.6 s added 16 at a time, 1.9 s 64 at a time), and
holds the GIL while it works, so one `add` per uploaded document made Chroma most of an
ingestion's time. `submit` queues a document's vectors and returns; a writer task gathers what
is queued for up to 0.2 s (1,024 queued vectors or any read cut that short) and writes it in one
go per collection. Every read first has the queued writes to its scopes written and waits for
them, so a document is searchable as soon as its upload returns. The catalog keeps an outbox row
per write until the writer reports it done (`on_written`), so a crash loses nothing: the next
start writes those documents again (`bot.knowledge`). While Chroma fails, the queue is retried
with back-off, reads stop waiting for it, and `check_writable` refuses new uploads.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple

import chromadb
import chromadb.config
from chromadb.errors import NotFoundError

from bot.core.errors import StoreUnavailable
from bot.core.values import Scope

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_Args = TypeVarTuple("_Args")

# Seconds between attempts while Chroma keeps failing (a remote server down, a full disk).
_RETRY_DELAYS_S = (0.5, 2.0, 10.0, 30.0)
# How long closing waits for queued writes; what is left stays in the catalog's outbox.
_CLOSE_WAIT_S = 30.0
# Writes gather this long (or until this many vectors are queued) before going out together.
# A read never waits for it: it has the queue written at once.
_GATHER_S = 0.2
_GATHER_VECTORS = 1024


VectorStoreError = StoreUnavailable
"""The vector store failed (the kernel's `StoreUnavailable`, by the name this module long gave it)."""


@dataclass(frozen=True, slots=True)
class VectorSnapshot:
    """What one scope's collection holds for some chunk ids."""

    scope: Scope
    ids: list[str]
    embeddings: list[list[float]]
    metadatas: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class VectorWrite:
    """A document's vectors, to take the place of whatever its scope's collection holds for it.

    No ids: the document is gone. `replaces` says the collection may hold an earlier version
    (removed first, by `document_id`); `receipts` are the catalog's outbox rows this write settles.
    """

    scope: Scope
    document_id: str
    ids: list[str]
    embeddings: list[list[float]]
    metadatas: list[dict[str, Any]]
    replaces: bool
    receipts: tuple[int, ...] = field(default=())

    @classmethod
    def removal(cls, scope: Scope, document_id: str, receipts: tuple[int, ...]) -> VectorWrite:
        """The document is gone: whatever its scope's collection holds for it goes too."""
        return cls(scope, document_id, [], [], [], replaces=True, receipts=receipts)


class ChromaVectorStore:
    """One Chroma collection per scope and embedding model.

    A scope's vectors live in their own collection, so a query reads only the
    collections of the scopes it may see: isolation is structural, and no
    metadata filter is needed (Chroma's filters cost 50-100 ms at 20k chunks,
    an unfiltered HNSW query about 1 ms). Vector spaces of different
    embedding models never mix either.

    Use as `async with` (or call `aclose`): closing waits for queued writes.
    """

    def __init__(self, client: Any, *, embedder_name: str,
                 on_written: Callable[[list[int]], Awaitable[None]] | None = None,
                 retry_delays_s: Sequence[float] = _RETRY_DELAYS_S, gather_s: float = _GATHER_S) -> None:
        self._client = client
        self._prefix = f"tb-{embedder_name}"[:40].rstrip("-_.")
        self._collections: dict[str, Any] = {}
        self._write_lock = threading.Lock()
        self._max_batch = max(1, min(5000, client.get_max_batch_size()))
        self._on_written = on_written
        self._retry_delays_s = tuple(retry_delays_s)
        self._gather_s = gather_s
        self._write_now = asyncio.Event()  # a reader waits, or enough is queued: stop gathering
        # Queued writes by (scope key, document id): a newer write of a document takes the older's place.
        self._queued: dict[tuple[str, str], VectorWrite] = {}
        self._in_flight: list[VectorWrite] = []
        self._writer: asyncio.Task[None] | None = None
        self._failing = False  # the last attempt failed: reads stop waiting for the queue
        self._progress: asyncio.Event | None = None

    @classmethod
    def persistent(cls, path: Path, *, embedder_name: str,
                   on_written: Callable[[list[int]], Awaitable[None]] | None = None) -> ChromaVectorStore:
        path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(
            path=str(path), settings=chromadb.config.Settings(anonymized_telemetry=False, allow_reset=False)
        )
        return cls(client, embedder_name=embedder_name, on_written=on_written)

    @classmethod
    def remote(cls, host: str, port: int, *, ssl: bool, embedder_name: str,
               on_written: Callable[[list[int]], Awaitable[None]] | None = None) -> ChromaVectorStore:
        try:
            client = chromadb.HttpClient(
                host=host, port=port, ssl=ssl, settings=chromadb.config.Settings(anonymized_telemetry=False)
            )
        except Exception as exc:  # chromadb raises plain Exceptions when the server is unreachable
            raise VectorStoreError(f"cannot reach the Chroma server at {host}:{port}: {exc}") from exc
        return cls(client, embedder_name=embedder_name, on_written=on_written)

    async def __aenter__(self) -> ChromaVectorStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Write what is queued, waiting a bounded time and giving up after one failed attempt
        (Chroma down): the catalog's outbox keeps what is left for the next start."""
        writer = self._writer
        if writer is None:
            return
        deadline = asyncio.get_running_loop().time() + _CLOSE_WAIT_S
        while not writer.done():
            if self._progress is None:
                self._progress = asyncio.Event()
            progress = asyncio.ensure_future(self._progress.wait())
            self._write_now.set()
            remaining = deadline - asyncio.get_running_loop().time()
            await asyncio.wait([writer, progress], timeout=max(0.0, remaining), return_when=asyncio.FIRST_COMPLETED)
            progress.cancel()
            if self._failing or remaining <= 0:
                break
        if not writer.done():
            log.warning("closing with vector writes still queued; the next start writes them",
                        extra={"documents": len(self._queued) + len(self._in_flight)})
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    def collection_name(self, scope: Scope) -> str:
        """`tb-<model>-<hash of the scope>`: Chroma names allow only [A-Za-z0-9._-], 3-63 characters."""
        return f"{self._prefix}-{hashlib.blake2b(scope.key.encode(), digest_size=10).hexdigest()}"

    def collection(self, scope: Scope, *, create: bool = False) -> Any | None:
        """The scope's collection (created when `create`), or None while it has none."""
        cached = self._collections.get(scope.key)
        if cached is not None:
            return cached
        name = self.collection_name(scope)
        if create:
            found = self._client.get_or_create_collection(
                name=name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}},
                metadata={"scope": scope.key},
            )
        else:
            try:
                found = self._client.get_collection(name=name, embedding_function=None)
            except NotFoundError:
                return None  # not cached: another replica may create it at any moment
        self._collections[scope.key] = found
        return found

    async def _call(self, function: Callable[[*_Args], _T], *args: *_Args) -> _T:
        try:
            return await asyncio.to_thread(function, *args)
        except VectorStoreError:
            raise
        except Exception as exc:  # surface any Chroma failure as one clear error type
            raise VectorStoreError(f"vector store error: {exc}") from exc

    # --- writes -------------------------------------------------------------------------------
    def submit(self, write: VectorWrite) -> None:
        """Queue `write`; it is applied in the background, and reads of its scope wait for it."""
        key = (write.scope.key, write.document_id)
        earlier = self._queued.get(key)
        # An earlier write still queued or being written may leave vectors of this document behind.
        replaces = write.replaces or earlier is not None or any(
            (w.scope.key, w.document_id) == key for w in self._in_flight
        )
        receipts = (earlier.receipts if earlier is not None else ()) + write.receipts
        self._queued[key] = replace(write, replaces=replaces, receipts=receipts)
        if sum(len(w.ids) for w in self._queued.values()) >= _GATHER_VECTORS:
            self._write_now.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_queued())

    async def _write_queued(self) -> None:
        failures = 0
        while self._queued:
            if not self._write_now.is_set():
                try:
                    await asyncio.wait_for(self._write_now.wait(), self._gather_s)
                except TimeoutError:
                    pass
            self._write_now.clear()
            batch, self._in_flight = list(self._queued.values()), list(self._queued.values())
            self._queued.clear()
            try:
                await self._call(self._write, batch)
            except Exception as exc:  # noqa: BLE001 - retried; the catalog's outbox keeps the work
                self._failing = True
                self._in_flight = []
                for write in batch:  # back in the queue, under any newer write of the same document
                    key = (write.scope.key, write.document_id)
                    newer = self._queued.get(key)
                    self._queued[key] = replace(newer or write, replaces=True,
                                                receipts=write.receipts + (newer.receipts if newer else ()))
                self._signal_progress()
                delay = self._retry_delays_s[min(failures, len(self._retry_delays_s) - 1)]
                failures += 1
                log.warning("could not write vectors to Chroma; retrying in %.1f s: %s", delay, exc,
                            extra={"documents": len(batch)})
                # Waits out the delay, unless `check_writable` finds Chroma reachable again first.
                self._write_now.clear()
                try:
                    await asyncio.wait_for(self._write_now.wait(), delay)
                except TimeoutError:
                    pass
                self._write_now.set()  # the retry is due: no gathering first
                continue
            failures = 0
            self._failing = False
            self._in_flight = []
            receipts = [r for write in batch for r in write.receipts]
            if receipts and self._on_written is not None:
                try:
                    await self._on_written(receipts)
                except Exception:  # the rows stay in the outbox; the next start rewrites them
                    log.exception("could not record written vectors")
            self._signal_progress()

    def _write(self, batch: Sequence[VectorWrite]) -> None:
        by_scope: dict[str, list[VectorWrite]] = {}
        for write in batch:
            by_scope.setdefault(write.scope.key, []).append(write)
        with self._write_lock:
            for writes in by_scope.values():
                collection = self.collection(writes[0].scope, create=any(w.ids for w in writes))
                if collection is None:
                    continue  # nothing to add and nothing stored
                stale = [w.document_id for w in writes if w.replaces]
                for start in range(0, len(stale), 500):
                    collection.delete(where={"document_id": {"$in": stale[start : start + 500]}})
                ids = [i for w in writes for i in w.ids]
                embeddings = [e for w in writes for e in w.embeddings]
                metadatas = [m for w in writes for m in w.metadatas]
                for start in range(0, len(ids), self._max_batch):
                    end = start + self._max_batch
                    collection.add(ids=ids[start:end], embeddings=embeddings[start:end],
                                   metadatas=metadatas[start:end])

    @property
    def queued_documents(self) -> int:
        """Documents whose vectors are queued or being written."""
        return len(self._queued) + len(self._in_flight)

    def _signal_progress(self) -> None:
        if self._progress is not None:
            self._progress.set()
            self._progress = None

    def _owes(self, scope_keys: set[str] | None) -> bool:
        writes = [*self._queued.values(), *self._in_flight]
        return any(scope_keys is None or w.scope.key in scope_keys for w in writes)

    async def settle(self, scopes: Sequence[Scope] | None = None) -> None:
        """Wait until the writes queued for `scopes` (all, if None) are in Chroma.

        While Chroma is failing this returns at once: reads get what is stored, not a hang.
        """
        keys = None if scopes is None else {s.key for s in scopes}
        while self._owes(keys) and not self._failing:
            self._write_now.set()
            if self._progress is None:
                self._progress = asyncio.Event()
            await self._progress.wait()

    async def flush(self) -> None:
        """Wait until every queued write is in Chroma; raises `VectorStoreError` while it is failing."""
        await self.settle()
        if self._owes(None):
            raise VectorStoreError("vector store error: writes are queued while Chroma keeps failing")

    # --- reads --------------------------------------------------------------------------------
    def _snapshot(self, scope: Scope, ids: list[str]) -> VectorSnapshot:
        collection = self.collection(scope) if ids else None
        if collection is None:
            return VectorSnapshot(scope, [], [], [])
        got = collection.get(ids=ids, include=["embeddings", "metadatas"])
        return VectorSnapshot(
            scope=scope,
            ids=list(got["ids"]),
            embeddings=[list(map(float, e)) for e in got["embeddings"]],
            metadatas=[dict(m) for m in got["metadatas"]],
        )

    async def snapshot(self, ids: Sequence[str], *, scope: Scope) -> VectorSnapshot:
        """What the scope's collection holds for `ids` (vectors and metadata)."""
        await self.settle([scope])
        return await self._call(self._snapshot, scope, list(ids))

    def _query(self, embedding: list[float], scopes: list[Scope], limit: int) -> list[tuple[str, float]]:
        hits: list[tuple[str, float]] = []
        for scope in dict.fromkeys(scopes):
            collection = self.collection(scope)
            if collection is None:
                continue
            result = collection.query(query_embeddings=[embedding], n_results=limit, include=["distances"])
            # cosine distance -> similarity in [-1, 1]
            hits.extend((i, 1.0 - d) for i, d in zip(result["ids"][0], result["distances"][0], strict=True))
        hits.sort(key=lambda hit: hit[1], reverse=True)
        return hits[:limit]

    async def query(self, embedding: Sequence[float], scopes: Sequence[Scope], *,
                    limit: int) -> list[tuple[str, float]]:
        """Nearest chunks within `scopes` as (chunk id, cosine similarity), best first."""
        if not scopes:
            return []
        await self.settle(scopes)
        return await self._call(self._query, list(embedding), list(scopes), limit)

    def _count(self) -> int:
        prefix = self._prefix + "-"
        return sum(c.count() for c in self._client.list_collections() if c.name.startswith(prefix))

    async def count(self) -> int:
        """Vectors stored for this embedding model, over every scope."""
        await self.settle()
        return await self._call(self._count)

    async def ping(self) -> None:
        await self._call(self._client.heartbeat)

    async def check_writable(self) -> None:
        """Raise `VectorStoreError` if Chroma is unreachable or failing now, so a change can be
        refused before anything is written rather than queued behind an outage.

        After an outage, the first check that reaches Chroma has the queued writes retried at
        once (not at the end of their back-off) and passes if they go through.
        """
        await self.ping()
        if self._failing:
            if self._progress is None:
                self._progress = asyncio.Event()
            progress = self._progress
            self._write_now.set()
            await progress.wait()
            if self._failing:
                raise VectorStoreError("vector store error: Chroma is failing; queued writes are being retried")
