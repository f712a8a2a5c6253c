"""The `teambot` command at the edges of its input and output: EOF, a closed pipe, a bad data dir."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.support.cli import cli_env


async def test_chat_ends_cleanly_at_the_end_of_its_input(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "chat", cwd=tmp_path, env=cli_env(tmp_path),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    finally:
        if process.returncode is None:  # it hung: do not leave it running
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert stderr.decode() == ""
    assert "you> " in stdout.decode()


@pytest.mark.parametrize("args", [("ask", "What is the port?"), ("docs", "list")])
async def test_a_closed_stdout_ends_the_command_quietly(tmp_path: Path, args: tuple[str, ...]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -1` once it has its line: nobody reads any more
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", *args, cwd=tmp_path, env=cli_env(tmp_path),
            stdout=write_end, stderr=asyncio.subprocess.PIPE,
        )
    finally:
        os.close(write_end)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert stderr.decode() == ""
    assert process.returncode == 141  # 128 + SIGPIPE, as a shell reports a command the pipe ended


@pytest.mark.parametrize(("data_dir", "reason", "commands"), [
    ("/proc/nope", "cannot create /proc/nope: No such file or directory", [("ask", "hi"), ("stats",)]),
    ("{tmp}/a-file", "{tmp}/a-file exists and is not a directory", [("docs", "list")]),
    ("/proc", "cannot write in /proc: ", [("ask", "hi")]),  # even for root
])
async def test_an_unusable_data_dir_is_named_in_one_line(tmp_path: Path, data_dir: str, reason: str,
                                                         commands: list[tuple[str, ...]]) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    for args in commands:
        env = {**cli_env(tmp_path), "TEAMBOT_DATA_DIR": data_dir.format(tmp=tmp_path)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", *args, cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
        [line] = stderr.decode().splitlines()
        assert line.startswith(f"teambot: error: TEAMBOT_DATA_DIR: {reason.format(tmp=tmp_path)}"), line
        assert process.returncode == 2
    assert (tmp_path / "a-file").read_text() == "not a directory"
