"""Running the `teambot` command as a user does: a real subprocess, offline, in a clean environment."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


async def run_cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """`python -m bot.cli *args`: (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, stdout.decode(), stderr.decode()


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The process's environment without the developer's teambot settings, data under `tmp_path`, no network."""
    foreign = ("OPENAI_", "TEAMBOT_", "REDIS_", "SLACK_", "DISCORD_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(foreign)}
    env.update(TEAMBOT_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(REPO_ROOT),
               # No proxy and no route anywhere: any attempt to download would fail loudly.
               HF_HUB_OFFLINE="1", HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9",
               NO_PROXY="127.0.0.1,localhost", **extra)
    return env
