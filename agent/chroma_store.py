"""Dense vectors in Chroma: embedded `PersistentClient` by default, a Chroma server when configured.

We always pass our own vectors; collections are created without an
embedding function so Chroma never reaches for its downloadable default.

Chroma holds vectors and metadata, not the chunks' text: the catalog (SQLite) keeps the text
and a query needs only ids. Given documents, Chroma also feeds them to its own full-text index
(trigrams), which nothing here searches and which grows fast on Korean text: after 300 KorQuAD
paragraphs an `add` took 76 ms against 10 ms without the text.

This module is Chroma access alone: writes reach it through the queue in `agent.write_behind`,
and reads through that queue too, so they see every write queued before them.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple

import chromadb
import chromadb.config
from chromadb.errors import NotFoundError

from bot.core.errors import StoreUnavailable
from bot.core.values import Scope

_T = TypeVar("_T")
_Args = TypeVarTuple("_Args")


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


class ChromaStore:
    """One Chroma collection per scope and embedding model.

    A scope's vectors live in their own collection, so a query reads only the
    collections of the scopes it may see: isolation is structural, and no
    metadata filter is needed (Chroma's filters cost 50-100 ms at 20k chunks,
    an unfiltered HNSW query about 1 ms). Vector spaces of different
    embedding models never mix either.

    Every failure of Chroma surfaces as the kernel's `StoreUnavailable`.
    """

    def __init__(self, client: Any, *, embedder_name: str, call_timeout_s: float = 30.0,
                 write_timeout_s: float = 300.0, max_calls: int = 8) -> None:
        """`call_timeout_s` bounds a search, count or ping and `write_timeout_s` a batch of writes: Chroma's
        HTTP client has no timeout, so a server that accepts connections and never answers would hold
        the asker for good. At most `max_calls` worker threads wait on Chroma at once; a call Chroma never
        answers keeps its thread (threads can't be stopped), so a hanging server holds `max_calls` threads,
        not one per question until the bot has none left."""
        if min(call_timeout_s, write_timeout_s) <= 0 or max_calls < 1:
            raise ValueError("Chroma call bounds must be positive")
        self._client = client
        self._call_timeout_s = call_timeout_s
        self._write_timeout_s = write_timeout_s
        self._max_calls = max_calls
        self._slots: asyncio.Semaphore | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        self._prefix = f"tb-{embedder_name}"[:40].rstrip("-_.")
        self._collections: dict[str, Any] = {}
        self._write_lock = threading.Lock()
        self._max_batch = max(1, min(5000, client.get_max_batch_size()))
        self._heartbeat: asyncio.Task[None] | None = None

    @classmethod
    def persistent(cls, path: Path, *, embedder_name: str) -> ChromaStore:
        """Chroma embedded in this process, its files in `path`."""
        path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(
            path=str(path), settings=chromadb.config.Settings(anonymized_telemetry=False, allow_reset=False)
        )
        return cls(client, embedder_name=embedder_name)

    @classmethod
    def remote(cls, host: str, port: int, *, ssl: bool, embedder_name: str) -> ChromaStore:
        """A Chroma server."""
        try:
            client = chromadb.HttpClient(
                host=host, port=port, ssl=ssl, settings=chromadb.config.Settings(anonymized_telemetry=False)
            )
        except Exception as exc:  # chromadb raises plain Exceptions when the server is unreachable
            raise StoreUnavailable(f"cannot reach the Chroma server at {host}:{port}: {exc}") from exc
        return cls(client, embedder_name=embedder_name)

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

    def _calls_of_this_loop(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            self._slots, self._slots_loop = asyncio.Semaphore(self._max_calls), loop
        return self._slots

    async def _call(self, function: Callable[[*_Args], _T], *args: *_Args, timeout_s: float | None = None) -> _T:
        """`function(*args)` in a worker thread, within the call bounds (see `__init__`)."""
        timeout = timeout_s or self._call_timeout_s
        slots = self._calls_of_this_loop()
        try:
            async with asyncio.timeout(timeout):
                await slots.acquire()
        except TimeoutError as exc:
            raise StoreUnavailable("vector store error: Chroma is not answering (every call to it is waiting)") from exc
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        running = loop.run_in_executor(None, functools.partial(context.run, function, *args))

        def done(finished: asyncio.Future[_T]) -> None:
            # The slot is the thread's: it is free only when Chroma has answered, whoever still waits.
            slots.release()
            if not finished.cancelled():
                finished.exception()  # retrieved: one nobody waits for any more is not logged as lost

        running.add_done_callback(done)
        try:
            return await asyncio.wait_for(asyncio.shield(running), timeout)
        except TimeoutError as exc:
            raise StoreUnavailable(f"vector store error: Chroma did not answer within {timeout:g} s") from exc
        except StoreUnavailable:
            raise
        except Exception as exc:  # surface any Chroma failure as one clear error type
            raise StoreUnavailable(f"vector store error: {exc}") from exc

    async def write(self, batch: Sequence[VectorWrite]) -> None:
        """Apply these writes, as few Chroma calls as it takes: one delete and one `add` (or as many
        as Chroma's batch size needs) per scope."""
        await self._call(self._write, batch, timeout_s=self._write_timeout_s)

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
        return await self._call(self._query, list(embedding), list(scopes), limit)

    def _count(self) -> int:
        prefix = self._prefix + "-"
        return sum(c.count() for c in self._client.list_collections() if c.name.startswith(prefix))

    async def count(self) -> int:
        """Vectors stored for this embedding model, over every scope."""
        return await self._call(self._count)

    async def ping(self) -> None:
        """Raise `StoreUnavailable` if Chroma does not answer.

        One heartbeat at a time: a caller may give up on it (`/readyz` waits 2 s), but its thread can't be
        stopped, and a Chroma server that accepts connections and never answers holds it for good (its HTTP
        client has no timeout). So later pings wait for the heartbeat still out instead of sending another:
        a hanging server ties up one worker thread, not one per probe until none is left for anything else.
        """
        heartbeat = self._heartbeat
        if heartbeat is None or heartbeat.done() or heartbeat.get_loop() is not asyncio.get_running_loop():
            heartbeat = self._heartbeat = asyncio.create_task(self._beat(), name="chroma-heartbeat")
            # Its failure is each waiter's to see; when all of them gave up, nobody is left to be told.
            heartbeat.add_done_callback(lambda done: done.cancelled() or done.exception())
        await asyncio.shield(heartbeat)

    async def _beat(self) -> None:
        await self._call(self._client.heartbeat)
