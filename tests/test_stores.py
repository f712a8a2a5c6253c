"""The stores for real: a Chroma server over HTTP (CHROMA_HOST) and OpenAI-compatible embeddings."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import chromadb
import pytest

from adapters.fake.adapter import FakeAdapter
from agent.chroma_store import ChromaStore, VectorWrite
from agent.write_behind import WriteBehindVectorStore
from bot.app import Teambot
from bot.core.errors import StoreUnavailable
from bot.core.values import Scope
from bot.redis_server import free_port
from bot.settings import Settings
from tests.support.loopback import wait_until_ok
from tests.support.openai_server import FakeOpenAI

SCOPE = Scope("fake", "W1", "general")
GUIDE = b"# Guide\n\n## Ports\n\nThe web console listens on port 8080.\n\n## Backups\n\nBackups run nightly at 02:00."


class ChromaServer:
    """A `chroma run` process on a fixed loopback port and data path, which a test may stop and start again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        binary = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
        self.process = await asyncio.create_subprocess_exec(
            binary, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        await wait_until_ok(f"http://127.0.0.1:{self.port}/api/v2/heartbeat")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


@pytest.fixture
async def chroma_server(tmp_path: Path) -> AsyncIterator[ChromaServer]:
    """A real Chroma server (the `chroma` binary that ships with chromadb) on a free loopback port."""
    server = ChromaServer(tmp_path / "chroma-server")
    try:
        await server.start()
        yield server
    finally:
        await server.stop()


async def test_chroma_server_over_http(make_settings: Callable[..., Settings], chroma_server: ChromaServer) -> None:
    settings = make_settings(chroma_host="127.0.0.1", chroma_port=chroma_server.port)
    async with Teambot(settings) as teambot:
        fake = FakeAdapter(teambot)
        await fake.upload("guide.md", GUIDE)
        await teambot.vectors.ping()
        assert await teambot.vectors.count() == 2
        stream = await fake.say("When do backups run?")
        assert stream.reply is not None and "02:00" in stream.reply.text
    assert not (settings.data_dir / "chroma").exists(), "no embedded store when a server is configured"


async def test_chroma_server_down_gives_clear_messages(make_settings: Callable[..., Settings],
                                                       chroma_server: ChromaServer) -> None:
    settings = make_settings(chroma_host="127.0.0.1", chroma_port=chroma_server.port)
    async with Teambot(settings) as teambot:
        fake = FakeAdapter(teambot)
        await fake.upload("guide.md", GUIDE)
        await chroma_server.stop()

        stream = await fake.say("When do backups run?")
        assert stream.reply is not None and stream.reply.mode == "error"
        assert stream.reply.error == "the document store is unavailable right now. Please try again in a moment."
        [outcome] = await fake.upload("other.md", b"# Other\n\nSomething new.")
        assert outcome.error == "the document store is unavailable; try again"
        assert [d.source for d in await teambot.knowledge.list_documents([fake.message("").scope])] == ["guide.md"]


async def test_openai_compatible_embeddings(make_settings: Callable[..., Settings], openai_server: FakeOpenAI) -> None:
    settings = make_settings(openai_base_url=openai_server.base_url, embedding_model="fake-embedding")
    async with Teambot(settings) as teambot:
        assert teambot.embedder.name == "openai-fake-embedding"
        fake = FakeAdapter(teambot)
        await fake.upload("guide.md", GUIDE)
        embedded = [r["body"]["input"] for r in openai_server.requests if r["path"].endswith("/embeddings")]
        assert len(embedded[0]) == 2, "both chunks embedded in one request"
        openai_server.reply = "Nightly at 02:00 [1]."
        stream = await fake.say("When do backups run?")
        assert stream.reply is not None and stream.reply.text == "Nightly at 02:00 [1]."
        inputs = [r["body"]["input"] for r in openai_server.requests if r["path"].endswith("/embeddings")]
        assert inputs[-1] in (["When do backups run?"], "When do backups run?"), "the question is embedded there too"


def _slow_store(chroma_server: ChromaServer) -> tuple[WriteBehindVectorStore, list[int]]:
    """A store on the server that gathers writes for a minute and backs off a minute after a
    failure (so only a reader, a check or closing makes it write), and the receipts it reports."""
    written: list[int] = []

    async def record(receipts: list[int]) -> None:
        written.extend(receipts)

    client = chromadb.HttpClient(host="127.0.0.1", port=chroma_server.port,
                                 settings=chromadb.Settings(anonymized_telemetry=False))
    store = WriteBehindVectorStore(ChromaStore(client, embedder_name="test"), on_written=record,
                                   retry_delays_s=(60,), gather_s=60)
    return store, written


def _one_vector(receipt: int) -> VectorWrite:
    return VectorWrite(SCOPE, "doc-a", ["doc-a:0"], [[1.0, 0.0]], [{"document_id": "doc-a"}],
                       replaces=False, receipts=(receipt,))


async def test_vector_writes_queued_through_an_outage_arrive_when_chroma_returns(chroma_server: ChromaServer) -> None:
    """Writes accepted before Chroma went down are retried, not lost, and reported done once in."""
    store, written = _slow_store(chroma_server)
    async with store:
        store.submit(_one_vector(7))
        await chroma_server.stop()
        with pytest.raises(StoreUnavailable):
            await store.flush()
        assert store.queued_documents == 1
        with pytest.raises(StoreUnavailable):
            await store.check_writable()  # so new uploads are refused with a reason meanwhile
        assert written == []

        await chroma_server.start()
        # The next upload's check finds Chroma back: the queue is retried now, not after its 60-s back-off.
        await asyncio.wait_for(store.check_writable(), 30)
        assert written == [7] and store.queued_documents == 0
        assert await store.query([1.0, 0.0], [SCOPE], limit=5) == [("doc-a:0", pytest.approx(1.0))]


async def test_closing_during_an_outage_leaves_queued_writes_to_the_outbox(chroma_server: ChromaServer) -> None:
    """Closing tries once more and stops: the receipts are not reported, so the outbox keeps them."""
    store, written = _slow_store(chroma_server)
    store.submit(_one_vector(3))
    await chroma_server.stop()
    await asyncio.wait_for(store.aclose(), 20)  # not the 60-s back-off, nor the 30-s close budget
    assert written == []
