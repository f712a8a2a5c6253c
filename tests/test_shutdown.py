"""Graceful shutdown of `teambot serve`: SIGTERM stops intake, lets answers finish or reports them."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import aiohttp

from bot.dispatcher import SHUTTING_DOWN
from bot.redis_server import free_port
from tests.support.cli import cli_env
from tests.support.loopback import wait_until_ok
from tests.support.openai_server import FakeOpenAI

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


async def test_sigterm_tells_api_clients_waiting_for_an_answer(tmp_path: Path, openai_server: FakeOpenAI,
                                                                redis_url: str) -> None:
    """A JSON client gets a 503 with a one-line reason, a streaming one a final `event: error`."""
    openai_server.stall = True
    port = free_port()
    env = cli_env(tmp_path, OPENAI_BASE_URL=openai_server.base_url, REDIS_URL=redis_url, TEAMBOT_API_TOKEN="tok",
                  TEAMBOT_HTTP_PORT=str(port), TEAMBOT_LOG_FORMAT="text", TEAMBOT_SHUTDOWN_GRACE="0.5")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": "Bearer tok"}
    try:
        await wait_until_ok(f"{base}/healthz", timeout_s=60)
        async with aiohttp.ClientSession() as session:
            form = aiohttp.FormData({"workspace": "W", "channel": "C"})
            form.add_field("file", GUIDE.encode(), filename="guide.md")
            async with session.post(f"{base}/api/v1/documents", data=form, headers=auth) as response:
                assert response.status == 200, await response.text()
            question = {"question": "Which port does the web console listen on?", "workspace": "W", "channel": "C"}

            async def ask(stream: bool) -> tuple[int, str]:
                async with session.post(f"{base}/api/v1/ask", json={**question, "stream": stream},
                                        headers=auth) as response:
                    return response.status, await response.text()

            asked = asyncio.gather(ask(False), ask(True))
            for _ in range(600):  # wait until both questions have reached the model
                if openai_server.in_flight == 2:
                    break
                await asyncio.sleep(0.05)
            assert openai_server.in_flight == 2
            process.send_signal(signal.SIGTERM)
            (json_status, json_body), (sse_status, sse_body) = await asyncio.wait_for(asked, timeout=60)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 0, stderr.decode()
    assert json_status == 503, json_body
    error = json.loads(json_body)["error"]
    assert "restarting" in error and "\n" not in error
    assert sse_status == 200
    last_event = sse_body.strip().split("\n\n")[-1]
    assert last_event.startswith("event: error\n") and "restarting" in last_event, sse_body
