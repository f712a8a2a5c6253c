"""Read untrusted files in worker processes that can be killed and cannot eat the bot's memory.

Every upload, whatever its format, is parsed and cut into chunks in a worker process: there
a parse is bounded in time (the worker is killed on timeout, unlike a thread), in memory (an
address-space limit turns a decompression bomb or a huge text into a `MemoryError`), and a
crash or a regex that holds the GIL never stops the bot's event loop.

The sandbox owns its workers rather than using `concurrent.futures`: a file's clock starts
when a worker has received it, so time spent queued behind another upload, starting a worker
or sending the bytes never counts against it; a killed worker is simply replaced. At most
`workers` files are read at once; the others wait their turn with no clock running.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import signal
import warnings
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from bot.chunking import ChunkingRules, Piece, split_sections
from bot.core.errors import IngestError
from bot.parsers import ParseLimits, parse_document

log = logging.getLogger(__name__)

# Forking, importing the parsers and receiving a large file can take a while on a busy machine;
# none of it is the file's fault, so it has its own generous allowance.
_START_TIMEOUT_S = 120.0
_MEMORY_REASON = "the file needs too much memory to read (a decompression bomb?)"
_CRASH_REASON = "the file crashed the document reader"


@dataclass(frozen=True, slots=True)
class ReadDocument:
    """A document as the knowledge base stores it: its title and its chunk-sized pieces."""

    title: str
    pieces: list[Piece]


@dataclass(frozen=True, slots=True)
class _Job:
    name: str
    data: bytes
    limits: ParseLimits
    chunking: ChunkingRules


def read_document(name: str, data: bytes, *, limits: ParseLimits, chunking: ChunkingRules) -> ReadDocument:
    """Parse `data` and cut it into pieces in this process (what a worker runs for each file)."""
    parsed = parse_document(name, data, limits)
    return ReadDocument(parsed.title, split_sections(parsed.sections, chunking, max_chars=limits.max_extracted_chars))


# --- the worker process -----------------------------------------------------------------------


def _limit_memory(max_bytes: int) -> None:
    try:
        import resource  # noqa: PLC0415 - POSIX only

        resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))
    except (ImportError, ValueError, OSError):
        pass  # not enforceable here; the time limit still applies


def _die_with_parent() -> None:
    # The worker's parent is the forkserver, which exits when the bot does (even on SIGKILL);
    # Linux then kills the worker too, even in the middle of a parse.
    try:
        import ctypes  # noqa: PLC0415

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the bot's shutdown and the closed pipe still end the worker


def _worker_main(conn: Connection, memory_bytes: int) -> None:
    # Ctrl-C reaches every process of the terminal's group: the bot handles it and ends its
    # workers; a worker's own KeyboardInterrupt would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    _limit_memory(memory_bytes)
    # Third-party parsers warn about what they find in broken files (pypdf through `logging`
    # and `warnings`); the user gets one line from us instead.
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    conn.send(("ready", None))
    while True:
        try:
            job: _Job = conn.recv()
        except (EOFError, OSError):
            return  # the bot closed the pipe: nothing more to read
        conn.send(("started", None))
        try:
            outcome: tuple[str, object] = (
                "done", read_document(job.name, job.data, limits=job.limits, chunking=job.chunking))
        except IngestError as refusal:
            outcome = ("refused", str(refusal))
        except MemoryError:
            outcome = ("refused", _MEMORY_REASON)
        except Exception as exc:  # noqa: BLE001 - a bug of ours: reported to the bot, which logs it
            outcome = ("failed", f"{type(exc).__name__}: {exc}")
        del job
        try:
            conn.send(outcome)
        except MemoryError:
            conn.send(("refused", _MEMORY_REASON))


# --- the bot's side ------------------------------------------------------------------------------


class _TimedOut(Exception):
    pass


@dataclass(eq=False, slots=True)
class _Worker:
    process: BaseProcess
    conn: Connection

    def stop(self) -> None:
        """Kill the process: a stuck parse does not stop by being asked."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        # The pipe is not closed here: a thread may still be waiting on it, and wakes up with EOF
        # now that the other end is gone. It closes when the last reference to it goes.


class ParserSandbox:
    """`await sandbox.read(name, data, limits=..., chunking=...)`: parse and chunk with time and memory bounds."""

    def __init__(self, *, timeout_s: float, memory_bytes: int, workers: int = 1) -> None:
        self._timeout_s = timeout_s
        self._memory_bytes = memory_bytes
        # forkserver: a clean, small parent to fork from, never the bot's threaded process; the
        # parsers are imported there once, so a replacement worker starts in milliseconds.
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["bot.sandbox"])
        self._slots = asyncio.Semaphore(workers)
        # One thread per slot waits on a worker's pipe, so the event loop never does.
        self._threads = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="parser-pipe")
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()  # every live worker, idle or busy, for `close`
        self._closed = False

    async def read(self, name: str, data: bytes, *, limits: ParseLimits, chunking: ChunkingRules) -> ReadDocument:
        """Parse and chunk `data`; raises `IngestError` with a one-line reason on any failure or limit."""
        job = _Job(name, data, limits, chunking)
        loop = asyncio.get_running_loop()
        async with self._slots:
            if self._closed:
                raise IngestError("the bot is shutting down; try again later")
            worker = self._idle.pop() if self._idle else await loop.run_in_executor(self._threads, self._start_worker)
            healthy = False
            try:
                kind, value = await loop.run_in_executor(self._threads, self._exchange, worker, job)
                healthy = True
            except _TimedOut:
                raise IngestError(f"reading the file took longer than {self._timeout_s:g} s") from None
            except (EOFError, OSError):
                raise IngestError(_CRASH_REASON) from None
            finally:
                if healthy and not self._closed:
                    self._idle.append(worker)
                else:
                    # Timed out, crashed, or the upload was cancelled mid-parse: this worker's
                    # state is unknown, so it goes (a killed process is reaped in milliseconds);
                    # the next file gets a fresh one.
                    self._stop(worker)
        if kind == "failed":
            log.error("the document reader failed", extra={"file": name, "error": value})
            raise IngestError("the document reader failed on this file")
        if kind == "refused":
            raise IngestError(str(value))
        assert isinstance(value, ReadDocument)
        return value

    def _start_worker(self) -> _Worker:
        """Start a worker and wait until it is ready (runs in a thread)."""
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(target=_worker_main, args=(theirs, self._memory_bytes),
                                        name="teambot-parser", daemon=True)
        try:
            process.start()
        except OSError as exc:
            ours.close()
            log.error("could not start a document reader", extra={"error": str(exc)})
            raise IngestError("the document reader could not start; try again") from None
        finally:
            theirs.close()
        worker = _Worker(process, ours)
        self._workers.add(worker)
        try:
            if ours.poll(_START_TIMEOUT_S) and ours.recv()[0] == "ready":
                return worker
        except (EOFError, OSError):
            pass
        self._stop(worker)
        log.error("a document reader did not start")
        raise IngestError("the document reader could not start; try again")

    def _exchange(self, worker: _Worker, job: _Job) -> tuple[str, object]:
        """Hand `job` to `worker` and wait for its outcome (runs in a thread).

        The file's clock starts when the worker says it has the job.
        """
        worker.conn.send(job)
        if not worker.conn.poll(_START_TIMEOUT_S):
            raise _TimedOut
        kind, _ = worker.conn.recv()
        if kind != "started":
            raise EOFError(kind)
        if not worker.conn.poll(self._timeout_s):
            raise _TimedOut
        reply: tuple[str, object] = worker.conn.recv()
        return reply

    def _stop(self, worker: _Worker) -> None:
        self._workers.discard(worker)
        worker.stop()

    def close(self) -> None:
        """End every worker (idle or busy); later reads are refused."""
        self._closed = True
        self._idle = []
        for worker in list(self._workers):
            self._stop(worker)
        self._threads.shutdown(wait=False, cancel_futures=True)
