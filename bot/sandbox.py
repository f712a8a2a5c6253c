"""Parse untrusted files in a separate process that can be killed and cannot eat the bot's memory.

PDF, Word and HTML parsers are large pieces of third-party code fed by
strangers' uploads. Running them in a worker process bounds each parse in
time (the worker is killed on timeout, unlike a thread) and in memory (an
address-space limit turns a decompression bomb into a `MemoryError`), and a
crash there never takes the bot down. Plain text, Markdown, CSV, JSON and
code are parsed in linear time and stay in-process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
from concurrent.futures.process import BrokenProcessPool

from bot.parsers import IngestError, ParsedDocument, ParseLimits, extension_of, parse_document

SANDBOXED_EXTENSIONS = frozenset({".pdf", ".docx", ".html", ".htm", ".xhtml"})


def _limit_memory(max_bytes: int) -> None:
    try:
        import resource  # noqa: PLC0415 - POSIX only

        resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))
    except (ImportError, ValueError, OSError):
        pass  # not enforceable here; the time limit still applies


def _parse_in_worker(name: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    try:
        return parse_document(name, data, limits)
    except MemoryError:
        raise IngestError("the file needs too much memory to read (a decompression bomb?)") from None


class ParserSandbox:
    """`await sandbox.parse(name, data, limits)`: parse with time and memory bounds."""

    def __init__(self, *, timeout_s: float, memory_bytes: int) -> None:
        self._timeout_s = timeout_s
        self._memory_bytes = memory_bytes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: a clean, small parent to fork from, never the bot's threaded process.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_limit_memory,
                initargs=(self._memory_bytes,),
            )
        return self._pool

    def _kill(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()  # a stuck parse does not stop by being asked
        pool.shutdown(wait=False, cancel_futures=True)

    async def parse(self, name: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
        """Parse `data`; raises `IngestError` with a one-line reason on any failure or limit."""
        if extension_of(name) not in SANDBOXED_EXTENSIONS:
            try:
                return await asyncio.wait_for(asyncio.to_thread(parse_document, name, data, limits), self._timeout_s)
            except asyncio.TimeoutError:
                raise IngestError(f"reading the file took longer than {self._timeout_s:g} s") from None
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor(), _parse_in_worker, name, data, limits)
        try:
            return await asyncio.wait_for(future, self._timeout_s)
        except asyncio.TimeoutError:
            self._kill()
            raise IngestError(f"reading the file took longer than {self._timeout_s:g} s") from None
        except BrokenProcessPool:
            self._kill()
            raise IngestError("the file crashed the document reader") from None
        except MemoryError:
            raise IngestError("the file needs too much memory to read (a decompression bomb?)") from None

    def close(self) -> None:
        self._kill()
