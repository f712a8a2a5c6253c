"""The thread a question is asked in, as a source: its messages become passages, and it can be summarized.

People often answer each other in the thread before anyone asks the bot. The thread's messages
(`bot.core.values.ThreadMessage`, filled by the adapters) are weighed exactly like document chunks:
the retriever's rerank features over the same index statistics (`agent.retrieval.rerank_scores`),
then the answerability rules (`agent.answerability`). Each message is one passage, cited as
"this thread (author, time)", and cut like a remembered turn: at most an eighth of the prompt's room.

"Summarize this thread" is `agent.summary`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from agent.answerability import TermRarity
from agent.budget import ContextBudget, truncate_to_tokens
from agent.lexical_search import LexicalSearch
from agent.records import Chunk, Passage
from agent.retrieval import FusionWeights, hangul_share, rerank_scores
from agent.text import lexical_tokens, split_sentences
from bot.core.values import Scope, ThreadMessage

THREAD_SOURCE = "this thread"
"""How a thread's message is named in citations (its location says who wrote it, and when)."""
THREAD_DOCUMENT_ID = "thread"
"""The `document_id` of a thread's passages and citations: they are no stored document."""
KEPT_THREAD_PASSAGES = 2
"""Relevant thread messages kept among the passages even when `k` documents score higher: the judge
then weighs them, rather than the thread losing to documents that merely share its words."""


def thread_location(message: ThreadMessage) -> str:
    """`author, 2026-12-06 14:05 UTC`: where in the thread a passage was said."""
    return f"{message.author}, {message.at:%Y-%m-%d %H:%M} UTC"


def thread_chunks(messages: Sequence[ThreadMessage], *, scope: Scope, max_tokens_each: int) -> list[Chunk]:
    """One chunk per message that says something other than questions (`only_asks`), each cut to
    `max_tokens_each` (a runaway message must not push everything else out of the prompt, as with
    remembered turns)."""
    chunks = []
    for ordinal, message in enumerate(messages):
        text = truncate_to_tokens(message.text.strip(), max_tokens_each)
        if not text or only_asks(text):
            continue
        chunks.append(Chunk(id=f"{THREAD_DOCUMENT_ID}:{ordinal}", document_id=THREAD_DOCUMENT_ID, ordinal=ordinal,
                            text=text, source=THREAD_SOURCE, title="", location=thread_location(message),
                            scope=scope))
    return chunks


def only_asks(text: str) -> bool:
    """True for a message that only asks ("Which host should we use?"): it holds no answer, and it would
    match the same question asked of the bot better than the reply that answers it."""
    sentences = split_sentences(text)
    return bool(sentences) and all(s.rstrip().endswith(("?", "？")) for s in sentences)


def per_message_tokens(*, context_tokens: int, answer_tokens: int) -> int:
    """The most one thread message may take of the prompt: what one remembered turn may (`_fit_prompt`)."""
    return max(64, ContextBudget(context_tokens, answer_tokens).prompt_tokens // 8)


async def thread_passages(query: str, chunks: Sequence[Chunk], *, index: LexicalSearch, scopes: Sequence[Scope],
                          weights: FusionWeights) -> list[Passage]:
    """The thread's chunks as passages for `query`, best first, scored as the retriever scores documents.

    The thread is searched as the lexical index would search it: its chunks ranked by how much of the
    query they hold (their BM25 stand-in), with the index's IDF of the visible scopes; there are no
    vectors of them, so they get no dense score.
    """
    terms = lexical_tokens(query)
    if not chunks or not terms:
        return []
    idf = await index.idf(terms, scopes)
    chunk_terms = {chunk.id: chunk.index_terms() for chunk in chunks}
    total = sum(idf.get(t, 0.0) for t in set(terms)) or 1.0
    held = {c.id: sum(idf.get(t, 0.0) for t in set(terms) & set(chunk_terms[c.id])) / total for c in chunks}
    ranked = sorted((c.id for c in chunks if held[c.id] > 0), key=lambda c: held[c], reverse=True)
    lexical_hits = [(c, held[c]) for c in ranked]
    scores = rerank_scores(terms, lexical_hits, [], chunk_terms, idf, weights, korean=hangul_share(query) > 0.3)
    by_id = {chunk.id: chunk for chunk in chunks}
    return [Passage(chunk=by_id[c], score=scores[c][0], coverage=scores[c][1]) for c in ranked]


def merge_passages(documents: Sequence[Passage], thread: Sequence[Passage], *, k: int,
                   min_relevance: float) -> list[Passage]:
    """The best `k` of both, by score; the best relevant thread messages (`KEPT_THREAD_PASSAGES`) stay in."""
    merged = sorted([*documents, *thread], key=lambda p: p.score, reverse=True)[:k]
    wanted = [p for p in thread if p.coverage >= min_relevance][:KEPT_THREAD_PASSAGES]
    missing = [p for p in wanted if p not in merged]
    if missing:
        merged = sorted([*merged[: max(0, k - len(missing))], *missing], key=lambda p: p.score, reverse=True)
    return merged


def with_thread_terms(rarity: TermRarity, messages: Sequence[ThreadMessage]) -> TermRarity:
    """`rarity` knowing that the thread's words are not unknown: a name said in the thread ("Falcon")
    is no name that nothing here mentions (`agent.answerability.unknown_names`)."""
    if not messages:
        return rarity
    said = {term for message in messages for term in lexical_tokens(message.text)}
    return replace(rarity, unknown=frozenset(rarity.unknown - said))
