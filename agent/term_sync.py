"""The term index kept in step with the catalog, through the catalog's term outbox.

The BM25 index (`agent.termindex.TermIndex`, tantivy) is derived from the catalog
(`agent.catalog.Catalog`): every catalog change also writes a row to `lexical_outbox` in the
same transaction, and `TermIndexSync.sync` applies the outbox to the term index and commits it.
A crash between the two leaves the outbox behind, so the next start finishes the work; a lost
or unreadable term index is rebuilt from the catalog.

Ingestion does not wait for that commit (it fsyncs: about 20 ms here, an eighth of what a
document's ingestion takes); the sync runs in the background, writes within 0.3 s sharing one
commit, and every search first waits for any sync still owed or running (`catch_up`), so a
document is searchable as soon as `Catalog.replace_document` returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator

from agent.catalog import Catalog
from agent.termindex import TermIndex

log = logging.getLogger(__name__)

_WRITER_IDLE_S = 1.0
_COMMIT_DELAY_S = 0.3


class TermIndexSync:
    """Applies the catalog's changes to its term index, in the background and before every search.

    Use as `async with TermIndexSync.beside(catalog) as terms:` (or call `open` and `aclose`),
    within the catalog's own `async with`: opening finishes any term-index work a crash left
    behind, closing the owed sync.
    """

    def __init__(self, catalog: Catalog, index: TermIndex, *, commit_delay_s: float = _COMMIT_DELAY_S) -> None:
        self.index = index
        """The term index kept in step: searches read it once `catch_up` returns."""
        self._catalog = catalog
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
        catalog.on_change(self._owe)

    @classmethod
    def beside(cls, catalog: Catalog, *, commit_delay_s: float = _COMMIT_DELAY_S) -> TermIndexSync:
        """The sync of the term index in the directory beside the catalog's file (`<name>.terms`)."""
        index = TermIndex(catalog.path.with_name(catalog.path.stem + ".terms"))
        return cls(catalog, index, commit_delay_s=commit_delay_s)

    async def open(self) -> TermIndexSync:
        """Bring the term index up to date with the catalog (a rebuild if it was lost)."""
        await self.sync()
        return self

    async def __aenter__(self) -> TermIndexSync:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Finish the owed sync and release the term index's writer (the catalog stays open)."""
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
        await self._release_writer()

    def _owe(self) -> None:
        """The catalog changed: sync soon."""
        self._sync_owed = True
        # Group commit: writes arriving within `commit_delay_s` share one commit (each fsyncs and
        # may merge segments). A search does not wait for the delay: it syncs at once.
        if self._commit_timer is None:
            self._commit_timer = asyncio.get_running_loop().call_later(self._commit_delay_s, self._commit_later)

    def _commit_later(self) -> None:
        self._commit_timer = None
        self._track(asyncio.ensure_future(self._sync_in_background()))

    async def catch_up(self) -> None:
        """Before a read of the term index: let it catch up with the catalog (or finish doing so).
        Should that fail, the read goes ahead on the term index as it is."""
        if self._sync_owed or self._syncing:
            try:
                await self.sync()
            except Exception:  # stale lexical results beat no answer; the outbox keeps the work
                log.exception("could not update the lexical index; searching it as it is")

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
            await asyncio.to_thread(self.index.release)

    def _track(self, task: asyncio.Task[None]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _sync_in_background(self) -> None:
        try:
            await self.sync()
        except Exception:  # retried by the next search or write
            log.exception("could not update the lexical index")

    def _apply_outbox(self) -> None:
        pending = self._catalog.term_updates_owed()
        first = not self._checked
        self._checked = True
        if first and self.index.created:
            self._rebuild(pending)
            return
        if pending:
            changed = dict.fromkeys(document_id for _, document_id in pending)
            self.index.write(self._documents_terms(changed))
            self._catalog.forget_term_updates(pending[-1][0])
        # Once per open, a last check: a term index that disagrees with the catalog (say, restored
        # from another backup than the database) is rebuilt rather than trusted.
        if first and self.index.count() != self._catalog.chunk_count():
            self._rebuild([])

    def _documents_terms(self, document_ids: Iterable[str]) -> Iterator[tuple[str, list[tuple[int, str, str]]]]:
        """Each document's rows for the term index, read as they are written: one document in memory
        at a time, however large the catalog."""
        for document_id in document_ids:
            yield document_id, self._catalog.term_rows(document_id)

    def _rebuild(self, pending: list[tuple[int, str]]) -> None:
        documents = self._catalog.document_ids()
        if documents:
            log.info("rebuilding the lexical index from the catalog", extra={"documents": len(documents)})
        self.index.write(self._documents_terms(documents), clear_first=True)
        if pending:
            self._catalog.forget_term_updates(pending[-1][0])
