"""The relay's reading of recorded traffic, which the real-model assertions rest on (runs in `make test`)."""

from __future__ import annotations

import json

from tests.support.llama_server import Exchange, LlamaServer


def _request(body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)


def _chunk(delta: dict, finish_reason: str | None = None) -> dict:
    return {"object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


def _sse_response(events: list[dict | str], *, complete: bool = True) -> bytes:
    """A streamed response shaped as llama-cpp-python sends it: chunked, one SSE event per chunk."""
    out = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    for event in events:
        text = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
        payload = f"data: {text}\r\n\r\n".encode()
        out += f"{len(payload):x}\r\n".encode() + payload + b"\r\n"
    return out + (b"0\r\n\r\n" if complete else b"")


def test_a_streamed_answer_is_read_with_its_bound_text_and_finish_reason() -> None:
    exchange = Exchange()
    exchange.sent += _request({"messages": [{"role": "system", "content": "출처"}, {"role": "user", "content": "질문"}],
                               "max_tokens": 64, "stream": True})
    exchange.received += _sse_response([_chunk({"role": "assistant"}), _chunk({"content": "주 2회"}),
                                        _chunk({"content": "입니다."}), _chunk({}, "stop"), "[DONE]"])

    [call] = exchange.chat_calls()

    assert (call.status, call.token_bound, call.content, call.content_chunks) == (200, 64, "주 2회입니다.", 2)
    assert (call.finish_reason, call.done, call.error) == ("stop", True, None)
    assert (call.prompt_chars, call.last_user_message) == (4, "질문")


def test_calls_on_one_connection_are_told_apart_and_an_error_body_is_read() -> None:
    exchange = Exchange()
    exchange.sent += _request({"messages": [], "max_completion_tokens": 32})
    exchange.sent += _request({"messages": [], "max_tokens": 64})
    exchange.received += _sse_response([_chunk({"content": "query"}), _chunk({}, "length"), "[DONE]"])
    error = json.dumps({"error": {"message": "maximum context length is 2048 tokens"}}).encode()
    exchange.received += (b"HTTP/1.1 400 Bad Request\r\ncontent-length: " + str(len(error)).encode()
                          + b"\r\n\r\n" + error)

    first, second = exchange.chat_calls()

    # llama-cpp-python reads only max_tokens: a max_completion_tokens alone is no bound there.
    assert (first.token_bound, first.finish_reason, first.content) == (None, "length", "query")
    assert (second.status, second.token_bound, second.error) == (400, 64, "maximum context length is 2048 tokens")


def test_a_stream_cut_off_mid_answer_has_no_done_and_no_finish_reason() -> None:
    exchange = Exchange()
    exchange.sent += _request({"messages": [], "max_tokens": 64})
    exchange.received += _sse_response([_chunk({"role": "assistant"}), _chunk({"content": "재택"})], complete=False)
    exchange.received += b"3f\r\ndata: {\"choi"  # the server died inside the next chunk

    [call] = exchange.chat_calls()

    assert (call.content, call.finish_reason, call.done) == ("재택", None, False)


def test_the_server_log_gives_tokens_generated_and_errors_since_a_mark(tmp_path) -> None:
    log = tmp_path / "server.log"
    log.write_text("llama_perf_context_print:        eval time =  6817.39 ms /   106 runs   (64.32 ms per token)\n")
    server = LlamaServer(process=None, port=0, log_path=log)
    mark = server.log_size()
    with open(log, "a") as more:
        more.write("llama_perf_context_print: prompt eval time =  5182.29 ms /   681 tokens (7.61 ms per token)\n"
                   "llama_perf_context_print:        eval time =  3658.00 ms /    63 runs   (58.06 ms per token)\n"
                   "ValueError: Requested tokens (2412) exceed context window of 2048\n")

    assert (server.generated_tokens(), server.generated_tokens(mark)) == ([106, 63], [63])
    assert server.error_lines(mark) == ["ValueError: Requested tokens (2412) exceed context window of 2048"]
