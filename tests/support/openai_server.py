"""A loopback HTTP server that speaks the OpenAI API: chat completions (JSON and SSE) and embeddings.

Tests point `OPENAI_BASE_URL` at it and inspect `requests` afterwards. Its
behaviour is set per test: the reply text (or a function of the request), a
delay before the first token, or failures with an HTTP status.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from aiohttp import web

from tests.support.loopback import serve_on_loopback


@dataclass
class FakeOpenAI:
    reply: str | Callable[[dict[str, Any]], str] = "The answer is 42 [1]."
    first_token_delay_s: float = 0.0
    token_delay_s: float = 0.0
    fail_status: int | None = None
    fail_times: int = 0
    """With `fail_status`, fail this many requests then recover (0 = fail always)."""
    stall: bool = False
    embedding_dimension: int = 64
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    """Most chat requests served at the same moment: proof that conversations overlap."""
    _runner: web.AppRunner | None = None
    _failures: int = 0
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/_stats", self._stats)
        app.router.add_post("/v1/_configure", self._configure)
        self._runner, self.port = await serve_on_loopback(app)

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> "FakeOpenAI":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _should_fail(self) -> bool:
        if self.fail_status is None:
            return False
        if self.fail_times == 0:
            return True
        if self._failures < self.fail_times:
            self._failures += 1
            return True
        return False

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"in_flight": self.in_flight, "max_in_flight": self.max_in_flight,
                                  "chat_requests": len(self.chat_requests())})

    async def _configure(self, request: web.Request) -> web.Response:
        """Benchmarks running this server in another process change its delay here."""
        body = await request.json()
        self.first_token_delay_s = float(body.get("first_token_delay_s", self.first_token_delay_s))
        self.max_in_flight = self.in_flight
        return await self._stats(request)

    def _reply_for(self, body: dict[str, Any]) -> str:
        return self.reply(body) if callable(self.reply) else self.reply

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._serve_chat(request)
        finally:
            self.in_flight -= 1

    async def _serve_chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"path": request.path, "body": body, "headers": dict(request.headers)})
        if self.stall:
            await self._released.wait()  # until the test ends: a model that never answers
        if self._should_fail():
            return web.json_response(
                {"error": {"message": "injected failure", "type": "server_error"}},
                status=self.fail_status, headers={"Retry-After": "0"},
            )
        text = self._reply_for(body)
        created = int(time.time())
        usage = {"prompt_tokens": 100, "completion_tokens": max(1, len(text.split())),
                 "total_tokens": 100 + max(1, len(text.split()))}
        if not body.get("stream"):
            await asyncio.sleep(self.first_token_delay_s)
            return web.json_response({
                "id": "chatcmpl-fake", "object": "chat.completion", "created": created, "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage,
            })
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await asyncio.sleep(self.first_token_delay_s)
        pieces = [word + " " for word in text.split(" ")]
        pieces[-1] = pieces[-1].rstrip()
        for piece in pieces:
            chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created,
                     "model": body.get("model"),
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if self.token_delay_s:
                await asyncio.sleep(self.token_delay_s)
        final = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created,
                 "model": body.get("model"), "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await response.write(f"data: {json.dumps(final)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            usage_chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created,
                           "model": body.get("model"), "choices": [], "usage": usage}
            await response.write(f"data: {json.dumps(usage_chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"path": request.path, "body": body, "headers": dict(request.headers)})
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": _hash_embedding(str(t), self.embedding_dimension)}
                for i, t in enumerate(inputs)]
        return web.json_response({"object": "list", "data": data, "model": body.get("model"),
                                  "usage": {"prompt_tokens": 1, "total_tokens": 1}})


def _hash_embedding(text: str, dimension: int) -> list[float]:
    """A deterministic bag-of-words vector: texts sharing words are close."""
    vector = np.zeros(dimension, dtype=np.float32)
    for word in text.lower().split():
        digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
        vector[int.from_bytes(digest, "little") % dimension] += 1.0
    norm = float(np.linalg.norm(vector)) or 1.0
    return (vector / norm).tolist()


async def _serve_forever(arguments: list[str]) -> None:
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m tests.support.openai_server")
    parser.add_argument("--reply", default="Here is the answer [1].")
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    options = parser.parse_args(arguments)
    async with FakeOpenAI(reply=options.reply, first_token_delay_s=options.first_token_delay) as server:
        print(server.base_url, flush=True)  # the parent reads this line to find the port
        await asyncio.Event().wait()


if __name__ == "__main__":
    # A separate process for benchmarks: the model's own work must not share our interpreter.
    import sys  # noqa: PLC0415

    asyncio.run(_serve_forever(sys.argv[1:]))
