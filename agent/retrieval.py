"""Hybrid retrieval: BM25 over the lexical index and dense vectors from Chroma, fused.

Both searches run at once and are restricted to the caller's scopes inside
the stores' own queries. Results are fused with weighted reciprocal-rank
fusion. Each passage also gets a *coverage* score (the share of the question's
IDF weight found in it), an absolute measure the agent uses to decide whether
anything relevant was found at all.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Sequence

from agent.embeddings import Embedder
from agent.lexical import KnowledgeIndex
from agent.records import Passage
from agent.text import lexical_tokens
from agent.vectorstore import ChromaVectorStore
from bot.events import Scope

_HANGUL = re.compile(r"[\uac00-\ud7a3]")


@dataclass(frozen=True, slots=True)
class FusionWeights:
    """How much each signal counts; dense vectors are English-trained, so Korean leans lexical."""

    lexical: float = 1.0
    dense: float = 1.0
    dense_for_korean: float = 0.1
    rrf_k: int = 60
    candidates: int = 40


def hangul_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if _HANGUL.match(ch)) / len(letters)


class HybridRetriever:
    """Finds the passages that best answer a question within the allowed scopes."""

    def __init__(self, *, index: KnowledgeIndex, vectors: ChromaVectorStore, embedder: Embedder,
                 weights: FusionWeights | None = None) -> None:
        self.index = index
        self.vectors = vectors
        self.embedder = embedder
        self.weights = weights or FusionWeights()

    async def _dense(self, query: str, scopes: Sequence[Scope], limit: int) -> list[tuple[str, float]]:
        embedding = await self.embedder.embed_query(query)
        return await self.vectors.query(embedding, scopes, limit=limit)

    async def retrieve(self, query: str, scopes: Sequence[Scope], *, k: int) -> list[Passage]:
        """Top `k` passages for `query`, best first, each with its coverage of the query."""
        terms = lexical_tokens(query)
        weights = self.weights
        limit = max(weights.candidates, k)
        lexical_hits, dense_hits = await asyncio.gather(
            self.index.search(terms, scopes, limit=limit),
            self._dense(query, scopes, limit),
        )
        dense_weight = weights.dense_for_korean if hangul_share(query) > 0.3 else weights.dense
        fused: dict[str, float] = {}
        for rank, (chunk_id, _) in enumerate(lexical_hits):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weights.lexical / (weights.rrf_k + rank + 1)
        for rank, (chunk_id, _) in enumerate(dense_hits):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + dense_weight / (weights.rrf_k + rank + 1)
        best = sorted(fused, key=fused.__getitem__, reverse=True)[:k]
        if not best:
            return []
        chunks, idf = await asyncio.gather(self.index.get_chunks(best), self.index.idf(terms))
        similarity = dict(dense_hits)
        passages = []
        for chunk_id in best:
            chunk = chunks.get(chunk_id)
            if chunk is None:  # vector without catalog row (mid-replacement): skip it
                continue
            passages.append(
                Passage(
                    chunk=chunk,
                    score=fused[chunk_id],
                    coverage=coverage(terms, lexical_tokens(chunk.searchable_text()), idf),
                    dense_similarity=similarity.get(chunk_id),
                )
            )
        return passages


def coverage(query_terms: Sequence[str], passage_terms: Sequence[str], idf: dict[str, float]) -> float:
    """Share of the query's IDF weight whose terms occur in the passage (0..1)."""
    unique = set(query_terms)
    total = sum(idf.get(t, 0.0) for t in unique)
    if total <= 0:
        return 0.0
    present = set(passage_terms)
    return sum(idf.get(t, 0.0) for t in unique if t in present) / total
