"""The chat model: any OpenAI-compatible endpoint through langchain-openai."""

from __future__ import annotations

from typing import Any

from langchain_openai import ChatOpenAI

from bot.settings import Settings


def build_model_http_client() -> Any:
    """The HTTP client every model and embedding call shares; close it with `await client.aclose()`.

    The OpenAI SDK's aiohttp transport rather than its default httpx one: serving a hundred
    conversations at once, the httpx connection pool rescans every open connection on each
    request, and that alone cost about 4 ms of the event loop per answer (docs/benchmarks.md).
    Proxy variables (HTTPS_PROXY, ...) are honoured the same way.
    """
    import openai  # noqa: PLC0415

    return openai.DefaultAioHttpClient()


def build_chat_model(settings: Settings, *, http_client: Any = None) -> ChatOpenAI | None:
    """A streaming chat model, or None when no endpoint is configured (extractive mode).

    `http_client` (from `build_model_http_client`) is owned by the caller, who closes it.
    """
    if not settings.model_configured:
        return None
    api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    return ChatOpenAI(
        model=settings.chat_model,
        api_key=api_key,
        base_url=settings.openai_base_url,
        temperature=settings.temperature,
        timeout=settings.model_timeout_s,
        max_retries=settings.model_max_retries,
        streaming=True,
        stream_usage=True,
        http_async_client=http_client,
        # Only the (unused) sync client is still built by langchain-openai: leave it default-shaped,
        # so it honours proxy variables instead of logging that its keep-alive transport ignores them.
        # Silent hangs on our async client end with `timeout` (a read timeout between chunks).
        http_socket_options=(),
    )
