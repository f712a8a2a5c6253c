"""Vector writes applied behind the caller, many documents per Chroma call.

Chroma's cost is mostly per call, not per vector (3,200 vectors took 4.6 s added 16 at a time,
1.9 s 64 at a time), and holds the GIL while it works, so one `add` per uploaded document made
Chroma most of an ingestion's time. `submit` queues a document's vectors and returns; a writer
task gathers what is queued for up to 0.2 s (1,024 queued vectors or any read cut that short)
and writes it in one go per collection (`agent.chroma_store.ChromaStore.write`). Every read
first has the queued writes to its scopes written and waits for them, so a document is
searchable as soon as its upload returns. The catalog keeps an outbox row per write until the
writer reports it done (`on_written`), so a crash loses nothing: the next start writes those
documents again (`bot.knowledge`). While Chroma fails, the queue is retried with back-off, reads
stop waiting for it, and `check_writable` refuses new uploads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from agent.chroma_store import ChromaStore, VectorSnapshot, VectorWrite
from bot.core.errors import StoreUnavailable
from bot.core.values import Scope

log = logging.getLogger(__name__)

# Seconds between attempts while Chroma keeps failing (a remote server down, a full disk).
_RETRY_DELAYS_S = (0.5, 2.0, 10.0, 30.0)
# How long closing waits for queued writes; what is left stays in the catalog's outbox.
_CLOSE_WAIT_S = 30.0
# Writes gather this long (or until this many vectors are queued) before going out together.
# A read never waits for it: it has the queue written at once.
_GATHER_S = 0.2
_GATHER_VECTORS = 1024


class WriteBehindVectorStore:
    """The vector store as the bot uses it: writes queued and applied behind the caller, reads
    that first wait for the queued writes of their scopes.

    Use as `async with` (or call `aclose`): closing waits for queued writes.
    """

    def __init__(self, store: ChromaStore, *, on_written: Callable[[list[int]], Awaitable[None]] | None = None,
                 retry_delays_s: Sequence[float] = _RETRY_DELAYS_S, gather_s: float = _GATHER_S) -> None:
        self.store = store
        """Chroma itself, behind the queue."""
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

    async def __aenter__(self) -> WriteBehindVectorStore:
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
                await self.store.write(batch)
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
        """Wait until every queued write is in Chroma; raises `StoreUnavailable` while it is failing."""
        await self.settle()
        if self._owes(None):
            raise StoreUnavailable("vector store error: writes are queued while Chroma keeps failing")

    # --- reads --------------------------------------------------------------------------------
    async def snapshot(self, ids: Sequence[str], *, scope: Scope) -> VectorSnapshot:
        """What the scope's collection holds for `ids` (vectors and metadata)."""
        await self.settle([scope])
        return await self.store.snapshot(ids, scope=scope)

    async def query(self, embedding: Sequence[float], scopes: Sequence[Scope], *,
                    limit: int) -> list[tuple[str, float]]:
        """Nearest chunks within `scopes` as (chunk id, cosine similarity), best first."""
        if not scopes:
            return []
        await self.settle(scopes)
        return await self.store.query(embedding, scopes, limit=limit)

    async def count(self) -> int:
        """Vectors stored for this embedding model, over every scope."""
        await self.settle()
        return await self.store.count()

    async def ping(self) -> None:
        """Raise `StoreUnavailable` if Chroma does not answer."""
        await self.store.ping()

    async def check_writable(self) -> None:
        """Raise `StoreUnavailable` if Chroma is unreachable or failing now, so a change can be
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
                raise StoreUnavailable("vector store error: Chroma is failing; queued writes are being retried")
