"""Attack: `/readyz` against a Chroma server that accepts connections and never answers.

Each readiness check pinged Chroma with a heartbeat in a worker thread and gave up on it after its
timeout; the thread stayed blocked (Chroma's HTTP client has no timeout), and the next probe, 2 s
later, blocked another. A few probes used up the default executor, and every `asyncio.to_thread`
of the bot (searches, uploads, catalog reads) queued behind them, even after Chroma came back.
Pings now share the heartbeat still out.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

import pytest

from adapters.http.health import SharedReadiness
from agent.chroma_store import ChromaStore
from bot.core.errors import StoreUnavailable


class HangingChroma:
    """A Chroma client whose heartbeat blocks until `answer` is set (or fails when `fail` is)."""

    def __init__(self) -> None:
        self.answer = threading.Event()
        self.fail = False
        self.heartbeats = 0
        self._lock = threading.Lock()

    def get_max_batch_size(self) -> int:
        return 100

    def heartbeat(self) -> int:
        with self._lock:
            self.heartbeats += 1
        self.answer.wait()
        if self.fail:
            raise ConnectionError("connection reset")
        return 1


async def probe(ping: Callable[[], Awaitable[None]], *, times: int) -> int:
    """Ping `times` times, each given up on the moment it is clearly waiting; how many timed out."""
    timed_out = 0
    for _ in range(times):
        try:
            await asyncio.wait_for(ping(), 0.05)
        except TimeoutError:
            timed_out += 1
    return timed_out


async def test_a_hanging_chroma_ties_up_one_thread_however_often_it_is_pinged() -> None:
    chroma = HangingChroma()
    store = ChromaStore(chroma, embedder_name="hash")
    try:
        assert await probe(store.ping, times=8) == 8, "Chroma never answers: every ping gives up"
        assert chroma.heartbeats == 1, "one heartbeat thread out, not one per ping"
        # Other work still gets a worker thread.
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "done"), 5) == "done"
    finally:
        chroma.answer.set()
    await store.ping()  # Chroma answers again: the next ping passes
    chroma.answer.clear()
    chroma.fail = True
    pinging = asyncio.ensure_future(store.ping())
    await asyncio.sleep(0)
    chroma.answer.set()
    with pytest.raises(StoreUnavailable):
        await pinging
    assert chroma.heartbeats == 2, "a finished heartbeat is not reused: each later ping asks Chroma again"


async def test_readiness_answers_while_chroma_hangs() -> None:
    chroma = HangingChroma()
    store = ChromaStore(chroma, embedder_name="hash")

    async def check() -> dict[str, str]:
        try:
            await asyncio.wait_for(store.ping(), 0.05)
        except TimeoutError:
            return {"chroma": "unavailable (TimeoutError)"}
        return {"chroma": "ok"}

    readiness = SharedReadiness(check, ttl_s=0)  # no reuse: every probe checks again
    try:
        results = [await readiness() for _ in range(8)]
        assert results == [{"chroma": "unavailable (TimeoutError)"}] * 8 and chroma.heartbeats == 1
    finally:
        chroma.answer.set()
    assert await readiness() == {"chroma": "ok"}
