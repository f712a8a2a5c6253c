"""The real-model check's runs of `teambot`: the environment a user sets, `teambot ask --json` as a
subprocess and its result, and the history a thread saved."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from adapters.console import translate as console
from bot.core.values import conversation_key
from bot.history import RedisHistory, Turn
from tests.support.llama_server import MODEL_ALIAS

REPO_ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "rules"
CONTEXT_TOKENS = 2048
MAX_ANSWER_TOKENS = 64
MAX_CONDENSE_TOKENS = 32
ASK_TIMEOUT_S = 240


def copy_of(data_dir: Path, destination: Path) -> Path:
    """A private copy, for processes that run at the same time (each opens its own stores)."""
    return Path(shutil.copytree(data_dir, destination / "data"))


@dataclass
class AskResult:
    """One `teambot` run: exit code, output, and how long it took."""

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
    """`python -m bot.cli *args` from the repository, failing the test past `ASK_TIMEOUT_S`."""
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
    """The Redis key of a `teambot ask --thread` conversation in the documents' channel."""
    return conversation_key(console.PLATFORM, console.WORKSPACE, CHANNEL, thread)


async def saved_turns(history: RedisHistory, thread: str) -> list[Turn]:
    """The turns `thread` saved."""
    return await history.load(thread_key(thread))
