"""BM25 search over the catalog's chunks within the scopes a question may see.

The term index (`agent.termindex.TermIndex`, tantivy, kept in step with the catalog by
`agent.term_sync.TermIndexSync`) finds the chunks holding a question's terms; the catalog
(`agent.catalog.Catalog`) says which of them are chunks of the allowed scopes, and their terms.

Scope is enforced inside the term index's query itself: each chunk carries its scope, and a
search only matches chunks of the allowed scopes. The statistics that weigh terms (how many
chunks hold a word, how long chunks are) are counted within the allowed scopes too, so nothing
a question's ranking, relevance or answer depends on changes with documents it may not see.
Counted as tantivy counts, they include the allowed scopes' chunks deleted but not yet merged
away: when a merge drops those can depend on anyone's writes, but what is dropped is the
allowed scopes' own. Tantivy ranks with the whole index's average chunk length, so each hit is
rescored exactly with the allowed scopes' own (see `LexicalSearch._search`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar, TypeVarTuple

from agent.catalog import CandidateDetails, Catalog
from agent.records import Chunk
from agent.term_sync import TermIndexSync
from agent.termindex import (
    BM25_B,
    BM25_K1,
    MAX_TERM_CHARS,
    ScopeStatistics,
    bm25_idf,
    searchable_terms,
    stored_length,
)
from bot.core.values import Scope

_T = TypeVar("_T")
_Args = TypeVarTuple("_Args")

_MIN_CORPUS_FOR_IDF = 1000
# BM25 hits are rescored with statistics of the allowed scopes; while tantivy's ranking may have
# missed one of the best by those, more of its hits are read, doubling, up to this many times
# `limit` (plus the lookahead). Past that, every chunk of the scopes holding a term is read.
_MAX_RESCORED_FACTOR = 4
# Hits read beyond `limit` at first, so that a score below the best `limit` shows none was missed.
_LOOKAHEAD = 8
# Relative difference below which two BM25 scores count as tied (tantivy computes in f32).
_SCORE_TOLERANCE = 1e-4


@dataclass(frozen=True, slots=True)
class TermStatistics:
    """Document frequencies of some terms and the size of the scopes they were counted in (the
    scopes a question may see: see `LexicalSearch.lexical_candidates`)."""

    chunks: int
    frequencies: dict[str, int]
    terms: int = 0
    """The terms of those chunks, all told (their average length, for BM25)."""
    longest: int = 0
    """Terms in the longest of those chunks (0: not counted)."""

    @classmethod
    def of(cls, counted: ScopeStatistics) -> TermStatistics:
        return cls(chunks=counted.chunks, frequencies=counted.frequencies, terms=counted.terms,
                   longest=counted.longest)

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """BM25 inverse document frequency of each term."""
        # A floor on the corpus size: in a knowledge base of three chunks every matched term
        # would otherwise weigh nearly nothing next to one unmatched word of the question.
        corpus = max(self.chunks, _MIN_CORPUS_FOR_IDF)
        result = {}
        for term in terms:
            frequency = self.frequencies.get(term, 0)
            result[term] = math.log(1 + (corpus - frequency + 0.5) / (frequency + 0.5))
        return result

    def selective(self, terms: Sequence[str], *, max_share: float, max_terms: int) -> list[str]:
        """The terms worth searching for: the rarest `max_terms`, without terms in more than
        `max_share` of all chunks (they match most of the index and barely change the ranking).
        At least the rarest term is always kept."""
        unique = sorted(dict.fromkeys(terms), key=lambda t: self.frequencies.get(t, 0))
        # The same floor as `idf`'s: counted within a channel of a few chunks, every word it holds is
        # in a large share of them, and only the question's words it lacks would be searched for.
        limit = max_share * max(self.chunks, _MIN_CORPUS_FOR_IDF)
        kept = [t for t in unique if self.frequencies.get(t, 0) <= limit][:max_terms]
        return kept or unique[:1]

    @property
    def average_length(self) -> float:
        """Mean number of terms per chunk (1 for no chunks, which then score nothing anyway)."""
        return self.terms / self.chunks if self.chunks and self.terms else 1.0

    def bm25_idf(self, terms: Iterable[str]) -> dict[str, float]:
        """Each term's weight in the BM25 score: as tantivy computes it, without `idf`'s floor."""
        return {t: bm25_idf(self.frequencies.get(t, 0), self.chunks) for t in terms}

    def bm25(self, chunk_terms: Sequence[str], idf: dict[str, float]) -> float:
        """BM25 score of a chunk with these terms for a query of the terms in `idf`, with the chunk
        length rounded as tantivy stores it: in one scope, tantivy's own score."""
        # Set and list operations run in C, where a loop over the chunk's terms would run in Python.
        present = idf.keys() & set(chunk_terms)
        if not present:
            return 0.0
        counts = [(weight, chunk_terms.count(term)) for term, weight in idf.items() if term in present]
        length = len(chunk_terms)
        if max(map(len, chunk_terms)) > MAX_TERM_CHARS:  # rare: terms the index leaves out
            length = len(searchable_terms(chunk_terms))
        norm = BM25_K1 * (1 - BM25_B + BM25_B * stored_length(length) / self.average_length)
        return sum(weight * (BM25_K1 + 1) * tf / (tf + norm) for weight, tf in counts)


@dataclass(frozen=True, slots=True)
class LexicalCandidates:
    """One lexical search: the statistics of the query's terms, the BM25 hits, and their terms."""

    statistics: TermStatistics
    hits: list[tuple[str, float]]
    """(chunk id, BM25 score) with higher = better, best first."""
    chunk_terms: dict[str, list[str]]
    """The indexed terms of each hit, in text order."""


class LexicalSearch:
    """BM25 search within scopes, with the statistics of those scopes alone; and the catalog's reads
    of what it finds, which the retriever's reranking needs next.

    Every search first lets the term index catch up with the catalog, so it sees every write that
    has returned. The work runs in worker threads, so the event loop never waits on disk.
    """

    def __init__(self, *, catalog: Catalog, terms: TermIndexSync) -> None:
        self._catalog = catalog
        self._sync = terms
        self._terms = terms.index

    async def _read_terms(self, function: Callable[[*_Args], _T], *args: *_Args) -> _T:
        """A read that needs the term index: first let it catch up with the catalog (or finish doing so)."""
        await self._sync.catch_up()
        return await asyncio.to_thread(function, *args)

    def _search(self, terms: Sequence[str], scopes: Sequence[Scope], limit: int,
                statistics: TermStatistics | None = None,
                ) -> tuple[list[tuple[str, float]], dict[str, list[str]]]:
        if not terms or not scopes:
            return [], {}
        wanted = list(dict.fromkeys(searchable_terms(terms)))
        if statistics is None:
            statistics = self._statistics(wanted, scopes)
        idf = statistics.bm25_idf(wanted)
        keys = [s.key for s in scopes]
        # Tantivy ranks with these scopes' term weights (`idf`) but the whole index's average chunk
        # length; each hit is rescored with these scopes' own, from its terms (read anyway for
        # reranking). A chunk tantivy ranked below the ones read scores at most `bound` times its
        # tantivy score by these scopes' statistics: more are read until none left can be among the
        # best. When the other scopes' chunk lengths make tantivy's ranking too unlike these scopes'
        # own for that (say, this channel's chunks are far shorter than the index's average), every
        # chunk of these scopes holding a term is read: how many that is, and so what is found,
        # depends on these scopes alone.
        found: dict[int, tuple[str, list[str]]] = {}
        exact: dict[str, float] = {}
        pool = limit + _LOOKAHEAD
        while True:
            ranked = self._terms.search(wanted, keys, limit=pool, idf=idf)
            unread = [rowid for rowid, _ in ranked if rowid not in found]
            for rowid, (chunk_id, chunk_terms) in self._catalog.hit_rows(unread, scopes).items():
                found[rowid] = (chunk_id, chunk_terms)
                exact[chunk_id] = statistics.bm25(chunk_terms, idf)
            found.update((rowid, ("", [])) for rowid in unread if rowid not in found)  # gone: not read again
            if len(ranked) < pool:  # every chunk of these scopes holding a term was read
                break
            if len(exact) >= limit and self._none_missed(statistics, last_score=ranked[-1][1],
                                                         kth_score=sorted(exact.values())[-limit]):
                break
            if pool < _MAX_RESCORED_FACTOR * (limit + _LOOKAHEAD):
                pool *= 2
            else:
                # At most this many chunks of these scopes hold a term (deleted ones not yet merged away
                # counted), so one more read brings them all; at least double, should a commit since the
                # statistics were counted have added some.
                matching = sum(statistics.frequencies.get(term, 0) for term in wanted)
                pool = max(2 * pool, min(matching, statistics.chunks) + 1)
        rescored = sorted(exact.items(), key=lambda hit: (-hit[1], hit[0]))[:limit]
        terms_by_chunk = {chunk_id: chunk_terms for chunk_id, chunk_terms in found.values() if chunk_id}
        return rescored, {chunk_id: terms_by_chunk[chunk_id] for chunk_id, _ in rescored}

    def _none_missed(self, statistics: TermStatistics, *, last_score: float, kth_score: float) -> bool:
        """Whether no chunk tantivy ranked below `last_score` can beat `kth_score` by these statistics.

        Tantivy's score of a chunk differs from ours only in the average chunk length (the term
        weights are ours): per term, ours is at most max(1, ours / tantivy's) times as high. With
        these scopes' average above tantivy's, the ratio (tf + K_tantivy) / (tf + K_ours) of a term
        grows with the chunk's length and falls with tf, so the longest chunk at tf 1 bounds it closer.
        """
        if statistics.chunks == self._terms.index_chunks():
            index_average = statistics.average_length  # these scopes hold every chunk there is
        else:
            index_average = self._terms.index_average_length() or statistics.average_length
        bound = max(1.0, statistics.average_length / index_average)
        if bound > 1.0 and statistics.longest:
            length = stored_length(statistics.longest)
            tantivys = BM25_K1 * (1 - BM25_B + BM25_B * length / index_average)
            ours = BM25_K1 * (1 - BM25_B + BM25_B * length / statistics.average_length)
            bound = min(bound, (1 + tantivys) / (1 + ours))
        # Strictly below: a chunk tied with the last of the best could displace it (ties go to the
        # smaller chunk id, so no order of the index decides between them).
        return bound * last_score < kth_score * (1 - _SCORE_TOLERANCE)

    def _lexical_candidates(self, terms: Sequence[str], scopes: Sequence[Scope], limit: int, max_share: float,
                            max_terms: int) -> LexicalCandidates:
        statistics = self._statistics(terms, scopes)
        selected = statistics.selective(terms, max_share=max_share, max_terms=max_terms) if terms else []
        hits, terms_by_chunk = self._search(selected, scopes, limit, statistics)
        return LexicalCandidates(statistics=statistics, hits=hits, chunk_terms=terms_by_chunk)

    async def lexical_candidates(self, terms: Sequence[str], scopes: Sequence[Scope], *, limit: int,
                                 max_share: float, max_terms: int) -> LexicalCandidates:
        """Statistics of `terms` and the best BM25 hits within `scopes`, with their terms, in one read.

        The statistics, and so the BM25 scores, count the chunks of `scopes` only.

        Only the selective terms are searched for (see `TermStatistics.selective`). One call, one
        worker-thread hop: under load each hop waits for a busy event loop, so fewer is faster.
        """
        return await self._read_terms(self._lexical_candidates, list(terms), list(scopes), limit, max_share,
                                      max_terms)

    async def search(self, terms: Sequence[str], scopes: Sequence[Scope], *, limit: int) -> list[tuple[str, float]]:
        """Best chunks by BM25 within `scopes`, as (chunk id, score) with higher = better."""
        hits, _ = await self._read_terms(self._search, list(terms), list(scopes), limit)
        return hits

    def _statistics(self, terms: Iterable[str], scopes: Sequence[Scope]) -> TermStatistics:
        return TermStatistics.of(self._terms.scope_statistics(terms, [s.key for s in scopes]))

    def _idf(self, terms: Iterable[str], scopes: Sequence[Scope]) -> dict[str, float]:
        terms = list(terms)
        counted = self._terms.scope_statistics(terms, [s.key for s in scopes], with_lengths=False)
        return TermStatistics.of(counted).idf(terms)

    async def idf(self, terms: Iterable[str], scopes: Sequence[Scope]) -> dict[str, float]:
        """BM25 inverse document frequency of each term among the chunks of `scopes`."""
        return await self._read_terms(self._idf, list(terms), list(scopes))

    # --- what the retriever reads next of the chunks found -------------------------------------------
    async def candidate_details(self, ids: Sequence[str], *, with_terms: Iterable[str] = ()) -> CandidateDetails:
        """Document title and location of each of these chunks, and the indexed terms of those in
        `with_terms`, in one read (see `Catalog.candidate_details`)."""
        return await self._catalog.candidate_details(ids, with_terms=with_terms)

    async def get_chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """The chunks with these ids that the catalog holds (see `Catalog.get_chunks`)."""
        return await self._catalog.get_chunks(ids)
