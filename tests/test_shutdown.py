"""Graceful shutdown of `teambot serve`: SIGTERM stops intake, lets answers finish or reports them."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from bot.dispatcher import SHUTTING_DOWN
from bot.redis_server import free_port
from tests.support.openai_server import FakeOpenAI
from tests.test_cli import cli_env

GUIDE = "# Guide\n\nThe web console listens on port 8080.\n"


async def start_serving(tmp_path: Path, openai_server: FakeOpenAI, redis_url: str, **extra: str):
    (tmp_path / "guide.md").write_text(GUIDE)
    env = cli_env(tmp_path, OPENAI_BASE_URL=openai_server.base_url, REDIS_URL=redis_url,
                  TEAMBOT_HTTP_PORT=str(free_port()), TEAMBOT_LOG_FORMAT="text", **extra)
    ingest = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "ingest", "guide.md", cwd=tmp_path,
                                                  env=env, stdout=asyncio.subprocess.DEVNULL)
    assert await ingest.wait() == 0
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve", "--console", cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    process.stdin.write(b"Which port does the web console listen on?\n")
    await process.stdin.drain()
    for _ in range(600):  # wait until the question has reached the model
        if openai_server.in_flight:
            break
        await asyncio.sleep(0.05)
    assert openai_server.in_flight == 1
    return process


async def test_sigterm_lets_the_answer_in_flight_finish(tmp_path: Path, openai_server: FakeOpenAI,
                                                        redis_url: str) -> None:
    openai_server.first_token_delay_s = 1.0
    openai_server.reply = "It listens on 8080 [1]."
    process = await start_serving(tmp_path, openai_server, redis_url)

    process.send_signal(signal.SIGTERM)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 0, stderr.decode()
    assert "It listens on 8080 [1]." in stdout.decode()
    # The model's connections are closed with the bot, not left for the garbage collector.
    assert "Unclosed" not in stderr.decode()


async def test_sigterm_reports_answers_that_cannot_finish(tmp_path: Path, openai_server: FakeOpenAI,
                                                          redis_url: str) -> None:
    openai_server.stall = True
    process = await start_serving(tmp_path, openai_server, redis_url, TEAMBOT_SHUTDOWN_GRACE="0.5")

    process.send_signal(signal.SIGTERM)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 0, stderr.decode()
    assert SHUTTING_DOWN in stdout.decode()
