"""Embedding models behind one small async interface.

The default is WordLlama: its weights ship inside the PyPI package and load
with downloads disabled, so nothing is fetched at run time. An
OpenAI-compatible endpoint is used when an embedding model is configured.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import SecretStr


class Embedder(Protocol):
    """Turns texts into vectors. `name` identifies the vector space (one Chroma collection each)."""

    name: str

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def embed_query(self, text: str) -> list[float]: ...


class WordLlamaEmbedder:
    """The bundled offline model (256 dimensions, English-trained; Korean relies on the lexical index).

    WordLlama's vector of a text is the mean of its tokens' rows in one matrix, normalised. We
    compute that mean per text instead of through `WordLlama.embed`, which pads a batch to its
    longest text and averages under a mask: same vectors, half the time per document, and
    ingestion waits on this.
    """

    def __init__(self, *, dimension: int = 256) -> None:
        import wordllama  # noqa: PLC0415 - heavy import only when this embedder is used

        package_dir = Path(wordllama.__file__).parent
        model = wordllama.WordLlama.load(cache_dir=package_dir, disable_download=True, dim=dimension)
        self._matrix = np.ascontiguousarray(model.embedding, dtype=np.float32)
        self._tokenizer = model.tokenizer  # the model is ours alone: its tokenizer need not pad
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.name = f"wordllama-l2-{dimension}"

    def _embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = np.zeros((len(texts), self._matrix.shape[1]), dtype=np.float32)
        last_row = self._matrix.shape[0] - 1
        for row, encoding in enumerate(self._tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)):
            ids = np.asarray(encoding.ids, dtype=np.intp)
            if ids.size:
                np.clip(ids, 0, last_row, out=ids)
                vectors[row] = self._matrix[ids].sum(axis=0) / ids.size
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors /= np.where(norms == 0, 1, norms)  # a text with no tokens stays the zero vector
        return vectors.tolist()

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        # CPU-bound: keep the event loop free for other conversations.
        return await asyncio.to_thread(self._embed, texts)

    async def embed_query(self, text: str) -> list[float]:
        # One short text takes a fraction of a millisecond: less than handing it to a worker
        # thread and waiting for a busy event loop to notice the result.
        return self._embed([text])[0]


class OpenAICompatibleEmbedder:
    """Embeddings from any OpenAI-compatible endpoint through langchain-openai."""

    def __init__(self, *, model: str, api_key: str | None, base_url: str | None, timeout_s: float,
                 max_retries: int, http_client: Any = None) -> None:
        from langchain_openai import OpenAIEmbeddings  # noqa: PLC0415

        # check_embedding_ctx_length=False: otherwise the client downloads tiktoken files.
        self._client = OpenAIEmbeddings(
            model=model,
            api_key=SecretStr(api_key or "not-needed"),
            base_url=base_url,
            check_embedding_ctx_length=False,
            timeout=timeout_s,
            max_retries=max_retries,
            http_async_client=http_client,  # owned (and closed) by the caller
        )
        self.name = "openai-" + re.sub(r"[^A-Za-z0-9_-]+", "-", model)[:40]

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return await self._client.aembed_documents(list(texts))

    async def embed_query(self, text: str) -> list[float]:
        return await self._client.aembed_query(text)
