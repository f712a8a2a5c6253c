"""The chat model: any OpenAI-compatible endpoint through langchain-openai."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI


def build_model_http_client() -> Any:
    """The HTTP client every model and embedding call shares; close it with `await client.aclose()`.

    The OpenAI SDK's aiohttp transport rather than its default httpx one: serving a hundred
    conversations at once, the httpx connection pool rescans every open connection on each
    request, and that alone cost about 4 ms of the event loop per answer (docs/benchmarks.md).
    Proxy variables (HTTPS_PROXY, ...) are honoured the same way.
    """
    import openai  # noqa: PLC0415

    return openai.DefaultAioHttpClient()


def build_chat_model(*, model: str, api_key: str | None, base_url: str | None, temperature: float,
                     timeout_s: float, max_retries: int, http_client: Any = None) -> ChatOpenAI | None:
    """A streaming chat model, or None when neither `api_key` nor `base_url` is given (extractive mode).

    `http_client` (from `build_model_http_client`) is owned by the caller, who closes it.
    langchain-openai is imported only here, once a model is configured: without one nothing loads it.
    """
    if api_key is None and base_url is None:
        return None
    from langchain_openai import ChatOpenAI  # noqa: PLC0415 - heavy; see the docstring

    return ChatOpenAI(
        model=model,
        api_key=SecretStr(api_key if api_key is not None else "not-needed"),
        base_url=base_url,
        temperature=temperature,
        timeout=timeout_s,
        max_retries=max_retries,
        streaming=True,
        stream_usage=True,
        http_async_client=http_client,
        # Only the (unused) sync client is still built by langchain-openai: leave it default-shaped,
        # so it honours proxy variables instead of logging that its keep-alive transport ignores them.
        # Silent hangs on our async client end with `timeout` (a read timeout between chunks).
        http_socket_options=(),
    )


_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")


def with_token_limit(model: Any, max_tokens: int) -> Any:
    """`model` bound to generate at most `max_tokens` tokens on every call.

    langchain-openai sends its `max_tokens` as `max_completion_tokens`, which llama-cpp-python's
    server ignores (its request model only knows `max_tokens` and drops unknown fields), so an
    answer ran until the context was full. `max_tokens` is what OpenAI (for non-reasoning models),
    Azure, vLLM, Ollama, llama.cpp and LiteLLM all accept, so it goes in the body as is; OpenAI's
    reasoning models refuse it and get `max_completion_tokens`.
    """
    if _REASONING_MODEL.match(getattr(model, "model_name", "") or ""):
        return model.bind(max_tokens=max_tokens)
    return model.bind(extra_body={"max_tokens": max_tokens})


class ContextOverflow(Exception):
    """The server said the prompt does not fit its context window (in any of its ways of saying it)."""


class EmptyModelAnswer(Exception):
    """The stream ended without a word: nothing, or a role chunk and `[DONE]` (an interrupted answer)."""


# How servers word an over-long prompt in a 400: OpenAI/Azure/llama-cpp-python ("maximum context length",
# code context_length_exceeded), llama.cpp ("request (N tokens) exceeds the available context size",
# type exceed_context_size_error), vLLM ("The decoder prompt (length N) is longer than the maximum model
# length", older "maximum context length"), LiteLLM (ContextWindowExceededError around the provider's
# message). Ollama's OpenAI endpoint says nothing: it drops the prompt's start to fit num_ctx (4096 by
# default), which is why the context budget, not this check, is what keeps answers grounded there.
_OVERFLOW_WORDS = re.compile(
    r"context[_ ]length|context[_ ]size|context window|maximum model length|max_model_len|too long|"
    r"exceeds?|too many tokens|ContextWindowExceeded",
    re.IGNORECASE,
)


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def is_context_overflow(error: BaseException) -> bool:
    """True when `error` is a server refusing a prompt longer than its context window."""
    import openai  # noqa: PLC0415

    if isinstance(error, ContextOverflow):
        return True
    if not isinstance(error, openai.BadRequestError):
        return False
    code = getattr(error, "code", None) or ""
    body = error.body if isinstance(error.body, dict) else {}
    text = " ".join(str(part) for part in (code, body.get("type", ""), body.get("message", ""), error.message))
    return bool(_OVERFLOW_WORDS.search(text))


def describe_model_error(error: BaseException) -> tuple[str, str] | None:
    """(kind, one-line reason) for a failure of the model or the way to it; None for other errors.

    The reason completes "Sorry, I couldn't answer: ..." and "the language model ...: this answer
    quotes ...", so it names what happened, not how the client library calls it.
    """
    import aiohttp  # noqa: PLC0415
    import httpx  # noqa: PLC0415
    import httpx2  # noqa: PLC0415
    import openai  # noqa: PLC0415

    if isinstance(error, ContextOverflow) or is_context_overflow(error):
        return "model_context", (
            "the question with its documents is too long for the language model's context window "
            "(TEAMBOT_MODEL_CONTEXT_TOKENS may be larger than the server's)."
        )
    if isinstance(error, EmptyModelAnswer):
        return "model_empty", "the language model's answer was interrupted before it said anything."
    chain = _causes(error)
    # The aiohttp transport maps a refused connection to ConnectTimeout, and the SDK that to a timeout:
    # the refusal is still in the chain of causes.
    if any(isinstance(e, (ConnectionRefusedError, aiohttp.ClientConnectorError)) for e in chain):
        return "model_unreachable", "the language model's server refused the connection (is it running?)."
    if isinstance(error, openai.RateLimitError):
        return "model_rate_limit", "the language model is rate-limiting us. Please try again in a minute."
    if isinstance(error, (openai.APITimeoutError, httpx.TimeoutException, httpx2.TimeoutException,
                          TimeoutError)):
        return "model_timeout", "the language model did not answer in time. Please try again."
    if isinstance(error, openai.AuthenticationError):
        return "model_auth", "the language model rejected our credentials (check OPENAI_API_KEY)."
    if isinstance(error, openai.APIStatusError):
        if error.status_code in (502, 503, 504):  # a busy server, or the proxy in front of it
            return ("model_overloaded",
                    f"the language model is overloaded or restarting (HTTP {error.status_code}). Please try again.")
        return "model_error", f"the language model failed (HTTP {error.status_code}). Please try again."
    if isinstance(error, (httpx.ReadError, httpx2.ReadError, httpx.RemoteProtocolError, httpx2.RemoteProtocolError,
                          aiohttp.ClientPayloadError)) or (
        isinstance(error, openai.APIConnectionError)
        and any(isinstance(e, (httpx2.ReadError, httpx2.RemoteProtocolError, aiohttp.ClientPayloadError))
                for e in chain)
    ):
        return "model_dropped", "the connection to the language model broke off mid-answer."
    if isinstance(error, (openai.APIConnectionError, httpx.HTTPError, httpx2.HTTPError, aiohttp.ClientError)):
        return "model_unreachable", "the language model could not be reached. Please try again."
    return None
