"""The chat model: any OpenAI-compatible endpoint through langchain-openai."""

from __future__ import annotations

from langchain_openai import ChatOpenAI

from bot.settings import Settings


def build_chat_model(settings: Settings) -> ChatOpenAI | None:
    """A streaming chat model, or None when no endpoint is configured (extractive mode)."""
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
    )
