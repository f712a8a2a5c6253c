"""The bundled embedder: WordLlama's own vectors, computed our faster way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import wordllama

from agent.embeddings import WordLlamaEmbedder


async def test_vectors_are_wordllamas_own() -> None:
    texts = [
        "Deploys are frozen on Fridays after 15:00.",
        "직원은 매년 15일의 연차 휴가를 받습니다.",
        "short",
        "A much longer passage, " * 40,  # batches pad to their longest text in WordLlama.embed
        "",
    ]
    reference = wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True, dim=256)
    expected = reference.embed(texts[:-1], norm=True)
    embedder = WordLlamaEmbedder()
    vectors = np.asarray(await embedder.embed_documents(texts))
    assert vectors.shape == (5, 256)
    np.testing.assert_allclose(vectors[:-1], expected, atol=1e-6)
    assert not vectors[-1].any()  # no tokens: the zero vector, not NaN
    np.testing.assert_allclose(await embedder.embed_query(texts[0]), expected[0], atol=1e-6)
