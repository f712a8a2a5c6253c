"""A loopback HTTP server that speaks the OpenAI API: chat completions (JSON and SSE) and embeddings.

Tests point `OPENAI_BASE_URL` at it and inspect `requests` afterwards. Its
behaviour is set per test: the reply text (or a function of the request), a
delay before the first token, or failures with an HTTP status.

Real servers differ from the well-formed default, so `scenario` (or a queue of
`scenarios`, one consumed per chat request) reproduces what each one does,
read from their sources: llama-cpp-python's server (sse-starlette, `sep="\n"`,
`: ping` comments, a role-only first chunk, `stream_options` ignored, an
over-long streaming prompt answered with an empty 200 because the error is
raised after the headers went out, `[DONE]` then a dropped connection when a
newer request interrupts), llama.cpp's `exceed_context_size_error`, vLLM's and
OpenAI's `context_length_exceeded` wording. `context_tokens` makes the server
refuse prompts longer than that, counting tokens the way SmolLM2's tokenizer
does (Hangul about 1.9 per character, other text about 0.27).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    scenario: str = "normal"
    """How chat requests are answered; one of `SCENARIOS`."""
    scenarios: list[str] = field(default_factory=list)
    """Scenarios for the next chat requests, first one first; `scenario` once empty."""
    context_tokens: int | None = None
    """Refuse prompts (plus `max_tokens`) longer than this, as `overflow_style` does."""
    overflow_style: str = "llama_cpp_python"
    runaway_tokens: int = 3000
    """Scenario "runaway": words written when the request sets no `max_tokens` (the context filling up)."""
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

    async def __aenter__(self) -> FakeOpenAI:
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
        scenario = self.scenarios.pop(0) if self.scenarios else self.scenario
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}")
        if self.context_tokens is not None and scenario == "normal":
            needed = smollm2_tokens(body) + int(body.get("max_tokens") or 0)
            if needed > self.context_tokens:
                scenario = "overflow_" + self.overflow_style
        if scenario.startswith("overflow_") or scenario in ("server_error_traceback", "empty_200"):
            return await self._refuse(request, body, scenario)
        if scenario != "normal":
            return await self._misbehave(request, body, scenario)
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

    async def _refuse(self, request: web.Request, body: dict[str, Any], scenario: str) -> web.StreamResponse:
        """Answers that carry no completion: overflow in each server's words, a crash, an empty stream."""
        if scenario == "overflow_llama_cpp_python" and body.get("stream") or scenario == "empty_200":
            # llama-cpp-python streams through sse-starlette: the 200 and its headers are sent before
            # the model runs, so "Requested tokens exceed context window" ends the body with nothing in it.
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
            await response.prepare(request)
            await response.write_eof()
            return response
        if scenario == "server_error_traceback":
            trace = ("Traceback (most recent call last):\n  File \"/app/server.py\", line 1, in handler\n"
                     "RuntimeError: llama_decode returned -3\n")
            return web.Response(status=500, text=trace, content_type="text/plain")
        prompt, window = smollm2_tokens(body), self.context_tokens or 4096
        requested = prompt + int(body.get("max_tokens") or 0)
        if scenario == "overflow_llama_cpp":  # llama.cpp's own server (tools/server)
            error: dict[str, Any] = {
                "code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": prompt, "n_ctx": window,
                "message": f"request ({prompt} tokens) exceeds the available context size ({window} tokens)"}
        elif scenario == "overflow_vllm":
            error = {"object": "error", "type": "BadRequestError", "param": None, "code": 400,
                     "message": f"The decoder prompt (length {prompt}) is longer than the maximum model "
                                f"length of {window}. Make sure that `max_model_len` is no smaller than the "
                                "number of text tokens."}
        else:  # OpenAI, Azure, llama-cpp-python without streaming
            error = {"type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded",
                     "message": f"This model's maximum context length is {window} tokens. However, you requested "
                                f"{requested} tokens ({prompt} in the messages, {body.get('max_tokens')} in the "
                                "completion). Please reduce the length of the messages or completion."}
        return web.json_response({"error": error}, status=400)

    async def _misbehave(self, request: web.Request, body: dict[str, Any], scenario: str) -> web.StreamResponse:
        """Streams shaped like llama-cpp-python's, broken the ways real runs broke them."""
        created, model = int(time.time()), body.get("model")
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        text = self._reply_for(body)
        words = text.split(" ")
        finish = "stop"
        if scenario == "runaway":
            words = [f"word{i}" for i in range(self.runaway_tokens)]
            finish = "length"  # the context filled up
        if limit is not None and len(words) > int(limit):
            words, finish = words[: int(limit)], "length"
        pieces = [word + " " for word in words]
        pieces[-1] = pieces[-1].rstrip()

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            payload = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
            return f"data: {json.dumps(payload)}\n\n".encode()

        if not body.get("stream"):
            return web.json_response({
                "id": "chatcmpl-fake", "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(words)},
                             "finish_reason": finish}],
            })  # llama-cpp-python reports usage here, but "no_usage" servers do not: leave it out
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        await response.write(chunk({"role": "assistant"}))  # llama-cpp-python's first chunk carries no content
        if scenario == "done_then_drop":
            await response.write(b"data: [DONE]\n\n")
            _drop(request)
            return response
        for index, piece in enumerate(pieces):
            if scenario == "ping" and index % 2 == 0:
                await response.write(b": ping - 2026-12-06 03:23:10.000000+00:00\n\n")
            await response.write(chunk({"content": piece}))
            if scenario == "drop" and index == len(pieces) // 2:
                _drop(request)  # the connection ends mid-answer, with no [DONE]
                return response
            if self.token_delay_s:
                await asyncio.sleep(self.token_delay_s)
        await response.write(chunk({}, finish))
        # "ping", "no_usage", "runaway" and "role_first" ignore stream_options.include_usage, as llama-cpp-python does.
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


SCENARIOS = frozenset({
    "normal", "role_first", "ping", "no_usage", "runaway", "empty_200", "done_then_drop", "drop",
    "server_error_traceback", "overflow_openai", "overflow_llama_cpp_python", "overflow_llama_cpp", "overflow_vllm",
})


def _drop(request: web.Request) -> None:
    """Close the connection without ending the chunked body, as a killed or interrupted server does."""
    if request.transport is not None:
        request.transport.close()


def smollm2_tokens(body: dict[str, Any]) -> int:
    """Tokens of a chat request's messages as SmolLM2's tokenizer counts them (measured with llama-cpp-python:
    2.8-3.0 per Hangul syllable, 0.2-0.27 per other character; the higher figures here)."""
    total = 0
    for message in body.get("messages") or []:
        content = message.get("content") or ""
        content = content if isinstance(content, str) else json.dumps(content)
        hangul = sum(1 for ch in content if "\uac00" <= ch <= "\ud7a3")
        total += 4 + round(hangul * 2.9 + (len(content) - hangul) * 0.27)
    return total


def _hash_embedding(text: str, dimension: int) -> list[float]:
    """A deterministic bag-of-words vector: texts sharing words are close."""
    vector = np.zeros(dimension, dtype=np.float32)
    for word in text.lower().split():
        digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
        vector[int.from_bytes(digest, "little") % dimension] += 1.0
    norm = float(np.linalg.norm(vector)) or 1.0
    return (vector / norm).tolist()


async def _serve_forever(arguments: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.support.openai_server")
    parser.add_argument("--reply", default="Here is the answer [1].")
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    options = parser.parse_args(arguments)
    async with FakeOpenAI(reply=options.reply, first_token_delay_s=options.first_token_delay) as server:
        print(server.base_url, flush=True)  # the parent reads this line to find the port
        await asyncio.Event().wait()


if __name__ == "__main__":
    # A separate process for benchmarks: the model's own work must not share our interpreter.
    import sys

    asyncio.run(_serve_forever(sys.argv[1:]))
