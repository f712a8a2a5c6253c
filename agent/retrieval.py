"""Hybrid retrieval: BM25 over the lexical index and dense vectors from Chroma, fused.

Both searches run at once and are restricted to the caller's scopes inside
the stores' own queries. The union of their candidates is then reranked with
cheap features computed from each chunk's indexed terms: weighted
reciprocal-rank fusion of the two rankings, *coverage* (share of the question's
IDF weight found in the chunk), the best *window* coverage (the question's words
close together, as in the one sentence that answers it), adjacent query-term
pairs found adjacent (*phrase*), the cosine similarity, and the share found in the chunk's
document title or section heading (*heading*, a field boost). The BM25 score counts only
through its rank: its size as well, on top of the rank and the coverage, cost questions at
rank 1 on the dev splits. Weights were tuned on the dev splits of SQuAD, KorQuAD and the docs
set (see docs/benchmarks.md, which also lists the features tried and dropped). A question
whose every term is in a document's title is about the document as a whole: that document's
first chunk gets a bonus (no dev question is of that kind, so this one is set by reasoning, not
tuned; it changes no dev figure). Coverage is also kept on each passage: an absolute measure
the agent uses to decide whether anything relevant was found at all.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from agent.embeddings import Embedder
from agent.lexical_search import LexicalSearch
from agent.records import Passage, chunk_id, document_of, section_heading
from agent.text import lexical_tokens, query_terms
from agent.write_behind import WriteBehindVectorStore
from bot.core.values import Scope

_HANGUL = re.compile(r"[\uac00-\ud7a3]")


@dataclass(frozen=True, slots=True)
class FusionWeights:
    """How much each signal counts; dense vectors are English-trained, so Korean leans lexical."""

    lexical: float = 1.0
    dense: float = 1.0
    dense_for_korean: float = 0.1
    rrf_k: int = 60
    candidates: int = 40
    coverage: float = 1.0
    """Share of the question's IDF weight anywhere in the chunk."""
    window: float = 1.0
    """Best share of the question's IDF weight within `short_window` consecutive terms..."""
    long_window: float = 1.0
    """...and within `long_window_terms`."""
    short_window_terms: int = 12
    long_window_terms: int = 25
    phrase: float = 0.5
    """Share of the question's adjacent term pairs found adjacent in the chunk."""
    similarity: float = 1.0
    """Cosine similarity of the chunk to the question (scaled down for Korean like `dense`)."""
    common_term_share: float = 0.05
    """Terms found in more than this share of all chunks are left out of the BM25 query (not the scoring)."""
    max_search_terms: int = 16
    """At most this many (the rarest) terms go into the BM25 query."""
    heading: float = 3.0
    """Share of the question's IDF weight in the chunk's document title or section heading: the
    words a writer chose to say what a section is about count more than the same words in passing
    (a field boost, as in BM25F): "How do permissions work?" belongs to the section headed
    "Knowledge scoping and permissions", not to an invite link with `permissions=` in it
    (docs dev: recall@5 0.90 -> 0.97)."""
    document_lead: float = 2.0
    """Added, over the best score of its document's other chunks, for the first chunk of a document
    whose title holds every term of the question: a question about the document as a whole ("What
    is teambot?") is answered where it begins, not by whichever section mentions the title most."""


def hangul_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if _HANGUL.match(ch)) / len(letters)


class HybridRetriever:
    """Finds the passages that best answer a question within the allowed scopes."""

    def __init__(self, *, index: LexicalSearch, vectors: WriteBehindVectorStore, embedder: Embedder,
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
        terms = query_terms(query)
        weights = self.weights
        limit = max(weights.candidates, k)
        dense = asyncio.ensure_future(self._dense(query, scopes, limit))
        try:
            lexical = await self.index.lexical_candidates(
                terms, scopes, limit=limit, max_share=weights.common_term_share, max_terms=weights.max_search_terms,
            )
            dense_hits = await dense
        finally:
            dense.cancel()
        lexical_hits = lexical.hits
        candidates = list(dict.fromkeys([c for c, _ in lexical_hits] + [c for c, _ in dense_hits]))
        if not candidates:
            return []
        chunk_terms = dict(lexical.chunk_terms)
        # One catalog read brings the candidates' titles and headings, and the terms of those the
        # dense search alone found.
        dense_only = [c for c in candidates if c not in chunk_terms]
        details = await self.index.candidate_details(candidates, with_terms=dense_only)
        chunk_terms.update(details.terms)
        named = dict(details.headings)
        leads = self._leads_asked_about(terms, named) if weights.document_lead else set()
        unseen = sorted(leads.difference(candidates))
        if unseen:  # a document's beginning neither search found: one more read, for such questions only
            more = await self.index.candidate_details(unseen, with_terms=unseen)
            chunk_terms.update(more.terms)
            named.update(more.headings)
            leads.difference_update(c for c in unseen if c not in more.headings)
            candidates += [c for c in unseen if c in more.headings]
        headings = {c: heading_terms(*named[c]) for c in candidates if c in named}
        idf = lexical.statistics.idf(terms)
        scores = rerank_scores(terms, lexical_hits, dense_hits, chunk_terms, idf, weights,
                               korean=hangul_share(query) > 0.3, leads=leads, headings=headings)
        best = sorted(candidates, key=lambda c: scores[c][0], reverse=True)[:k]
        chunks = await self.index.get_chunks(best)
        similarity = dict(dense_hits)
        passages = []
        for candidate in best:
            chunk = chunks.get(candidate)
            if chunk is None:  # vector without catalog row (mid-replacement): skip it
                continue
            passages.append(
                Passage(chunk=chunk, score=scores[candidate][0], coverage=scores[candidate][1],
                        dense_similarity=similarity.get(candidate))
            )
        return passages

    @staticmethod
    def _leads_asked_about(terms: Sequence[str], headings: dict[str, tuple[str, str]]) -> set[str]:
        """First chunks of the candidates' documents whose title holds every term of the question."""
        asked = set(terms)
        if not asked:
            return set()
        # `heading_terms` with no location: the title's terms alone.
        return {chunk_id(document_of(c), 0) for c, (title, _) in headings.items()
                if asked <= heading_terms(title, "")}


@lru_cache(maxsize=16384)
def heading_terms(title: str, location: str) -> frozenset[str]:
    """Index terms of a chunk's document title and section heading (shared by every chunk of a
    section, hence cached); a page or row position is not a heading and adds none."""
    return frozenset(lexical_tokens(f"{title}\n{section_heading(location)}"))


def _hits(unique: set[str], passage_terms: Sequence[str]) -> list[tuple[int, str]]:
    """(position, term) of every query term in the passage: the one pass all features share."""
    return [(i, t) for i, t in enumerate(passage_terms) if t in unique]


def _best_window_of_hits(hits: Sequence[tuple[int, str]], idf: dict[str, float], total: float, width: int) -> float:
    counts: dict[str, int] = {}
    weight = best = 0.0
    left = 0
    for position, term in hits:
        counts[term] = counts.get(term, 0) + 1
        if counts[term] == 1:
            weight += idf.get(term, 0.0)
        while position - hits[left][0] >= width:
            old = hits[left][1]
            counts[old] -= 1
            if counts[old] == 0:
                weight -= idf.get(old, 0.0)
            left += 1
        best = max(best, weight)
    return best / total


def best_window(query_terms: Sequence[str], passage_terms: Sequence[str], idf: dict[str, float],
                width: int) -> float:
    """Largest share of the query's IDF weight found within `width` consecutive passage terms."""
    unique = set(query_terms)
    total = sum(idf.get(t, 0.0) for t in unique)
    if total <= 0:
        return 0.0
    return _best_window_of_hits(_hits(unique, passage_terms), idf, total, width)


def _phrase_share_of_hits(pairs: set[tuple[str, str]], hits: Sequence[tuple[int, str]]) -> float:
    # Adjacent passage terms that are both query terms are consecutive hits one position apart.
    present = {(a, b) for (i, a), (j, b) in pairwise(hits) if j == i + 1}
    return sum(1 for pair in pairs if pair in present) / len(pairs)


def phrase_share(query_terms: Sequence[str], passage_terms: Sequence[str]) -> float:
    """Share of the query's adjacent term pairs that are adjacent in the passage too."""
    pairs = set(pairwise(query_terms))
    if not pairs:
        return 0.0
    return _phrase_share_of_hits(pairs, _hits(set(query_terms), passage_terms))


def rerank_scores(terms: Sequence[str], lexical_hits: Sequence[tuple[str, float]],
                  dense_hits: Sequence[tuple[str, float]], chunk_terms: dict[str, list[str]],
                  idf: dict[str, float], weights: FusionWeights, *, korean: bool,
                  leads: set[str] | frozenset[str] = frozenset(),
                  headings: dict[str, frozenset[str]] | None = None) -> dict[str, tuple[float, float]]:
    """(final score, coverage) of every candidate chunk; higher is better. `leads` are first
    chunks of documents the question is about as a whole (see `FusionWeights.document_lead`);
    `headings` the terms of each candidate's document title and section heading
    (see `FusionWeights.heading`)."""
    headings = headings or {}
    dense_scale = (weights.dense_for_korean / weights.dense if weights.dense else 0.0) if korean else 1.0
    lexical_rank = {c: r for r, (c, _) in enumerate(lexical_hits)}
    dense_rank = {c: r for r, (c, _) in enumerate(dense_hits)}
    similarity = dict(dense_hits)
    floor = min(similarity.values(), default=0.0)
    rrf = weights.rrf_k
    unique = set(terms)
    total = sum(idf.get(t, 0.0) for t in unique)
    pairs = set(pairwise(terms))
    scores: dict[str, tuple[float, float]] = {}
    for candidate in dict.fromkeys([c for c, _ in lexical_hits] + [c for c, _ in dense_hits] + sorted(leads)):
        passage_terms = chunk_terms.get(candidate, [])
        hits = _hits(unique, passage_terms)
        found = {t for _, t in hits}
        covered = sum(idf.get(t, 0.0) for t in found) / total if total > 0 else 0.0
        score = 0.0
        if candidate in lexical_rank:
            score += weights.lexical * rrf / (rrf + lexical_rank[candidate] + 1)
        if candidate in dense_rank:
            score += weights.dense * dense_scale * rrf / (rrf + dense_rank[candidate] + 1)
        score += weights.similarity * dense_scale * similarity.get(candidate, floor)
        if passage_terms and terms:
            score += weights.coverage * covered
            if total > 0:
                score += weights.window * _best_window_of_hits(hits, idf, total, weights.short_window_terms)
                score += weights.long_window * _best_window_of_hits(hits, idf, total, weights.long_window_terms)
            if pairs:
                score += weights.phrase * _phrase_share_of_hits(pairs, hits)
        named = headings.get(candidate)
        if named and total > 0:
            score += weights.heading * sum(idf.get(t, 0.0) for t in unique & named) / total
        scores[candidate] = (score, covered)
    for lead in leads:
        # Ahead of every other chunk of its document, even when neither search found it: the other
        # chunks match the title through their heading as well as it does, and carry search ranks.
        document = document_of(lead)
        others = [scores[c][0] for c in scores if c != lead and document_of(c) == document]
        if lead in scores:
            score, covered = scores[lead]
            scores[lead] = (max([score, *others]) + weights.document_lead, covered)
    return scores


def coverage(query_terms: Sequence[str], passage_terms: Sequence[str], idf: dict[str, float]) -> float:
    """Share of the query's IDF weight whose terms occur in the passage (0..1)."""
    unique = set(query_terms)
    total = sum(idf.get(t, 0.0) for t in unique)
    if total <= 0:
        return 0.0
    present = set(passage_terms)
    return sum(idf.get(t, 0.0) for t in unique if t in present) / total
