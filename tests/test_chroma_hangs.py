"""A Chroma server that accepts connections and never answers (its HTTP client has no timeout).

Each question's search ran Chroma's query in a worker thread and waited for it for good: the asker
never got an answer, and every further question held one more thread until the default executor had
none left for anything else (catalog reads, uploads, other chats). Chroma calls now give up after a
bound with the store's usual "unavailable" error, and at most a few threads wait on Chroma at once.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from agent.chroma_store import ChromaStore
from bot.core.errors import StoreUnavailable
from bot.core.values import Scope

SCOPE = Scope("console", "local", "general")


class HangingCollection:
    def __init__(self, chroma: HangingChroma) -> None:
        self._chroma = chroma

    def query(self, **_: Any) -> dict[str, Any]:
        with self._chroma.lock:
            self._chroma.waiting += 1
            self._chroma.most_waiting = max(self._chroma.most_waiting, self._chroma.waiting)
        try:
            self._chroma.answer.wait()
        finally:
            with self._chroma.lock:
                self._chroma.waiting -= 1
        return {"ids": [["doc#0"]], "distances": [[0.25]]}


class HangingChroma:
    """A Chroma client whose queries block until `answer` is set."""

    def __init__(self) -> None:
        self.answer = threading.Event()
        self.lock = threading.Lock()
        self.waiting = 0
        self.most_waiting = 0

    def get_max_batch_size(self) -> int:
        return 100

    def get_collection(self, **_: Any) -> HangingCollection:
        return HangingCollection(self)


async def test_searches_against_a_hanging_chroma_give_up_and_hold_few_threads() -> None:
    chroma = HangingChroma()
    store = ChromaStore(chroma, embedder_name="hash", call_timeout_s=0.5, max_calls=2)
    try:
        searches = [store.query([1.0, 0.0], [SCOPE], limit=5) for _ in range(6)]
        results = await asyncio.wait_for(asyncio.gather(*searches, return_exceptions=True), 30)
        assert all(isinstance(r, StoreUnavailable) for r in results), results
        assert "did not answer" in str(results[0]) or "not answering" in str(results[0])
        assert chroma.most_waiting <= 2, "at most max_calls threads wait on Chroma"
        # The rest of the bot still gets worker threads.
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "done"), 5) == "done"
    finally:
        chroma.answer.set()
    # Chroma answers again: the threads it held come back, and searches find what it has.
    assert await asyncio.wait_for(store.query([1.0, 0.0], [SCOPE], limit=5), 30) == [("doc#0", 0.75)]


@pytest.mark.parametrize("bad", [0, -1.0])
def test_the_bounds_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError):
        ChromaStore(HangingChroma(), embedder_name="hash", call_timeout_s=bad)
