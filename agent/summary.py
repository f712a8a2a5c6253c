"""\"Summarize this thread\": an answer from the thread's messages alone, never the documents.

With a model: a summary citing the messages by number, the thread cut to fit the prompt (the root
always, then the most recent replies; each message cut like a remembered turn). Without one, or when
the model fails before writing a word: the thread's most central sentences with their authors, and a
note that says they are quoted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from langchain_core.messages import HumanMessage, SystemMessage

from agent import prompts
from agent.budget import ContextBudget, estimate_message_tokens, truncate_to_tokens
from agent.llm import describe_model_error
from agent.nodes import _call_model, _cited_numbers, _is_korean, _snippet
from agent.text import lexical_tokens, split_sentences
from agent.thread import THREAD_DOCUMENT_ID, THREAD_SOURCE, per_message_tokens, thread_location
from bot.core.values import Citation, Reply, ThreadMessage

SUMMARY_SENTENCES = 5
"""Sentences an extractive summary quotes (the root's first one included)."""


@dataclass(frozen=True, slots=True)
class _Sentence:
    message: int
    text: str


def central_sentences(messages: Sequence[ThreadMessage], *, count: int = SUMMARY_SENTENCES) -> list[_Sentence]:
    """The sentences most like the rest of the thread (TF-IDF cosine summed over the others, as in
    LexRank), in thread order; the root's first sentence always, since it says what the thread is about."""
    sentences = [_Sentence(i, s) for i, m in enumerate(messages) for s in split_sentences(m.text) if s.strip()]
    if not sentences:
        return []
    bags = [lexical_tokens(s.text) for s in sentences]
    frequency: dict[str, int] = {}
    for bag in bags:
        for term in set(bag):
            frequency[term] = frequency.get(term, 0) + 1
    idf = {term: math.log(1 + len(bags) / n) for term, n in frequency.items()}
    vectors = []
    for bag in bags:
        weights: dict[str, float] = {}
        for term in bag:
            weights[term] = weights.get(term, 0.0) + idf[term]
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        vectors.append({t: w / norm for t, w in weights.items()})
    # The sum of one sentence's cosines with all the others is its dot product with the sum of all the
    # vectors, less its own (one, or nothing for a sentence without terms): linear in the thread's size.
    total: dict[str, float] = {}
    for vector in vectors:
        for term, weight in vector.items():
            total[term] = total.get(term, 0.0) + weight
    centrality = [sum(w * total[t] for t, w in vector.items()) - sum(w * w for w in vector.values())
                  for vector in vectors]
    chosen = {0} if sentences[0].message == 0 else set()
    for index in sorted(range(len(sentences)), key=lambda i: centrality[i], reverse=True):
        if len(chosen) >= count:
            break
        chosen.add(index)
    return [sentences[i] for i in sorted(chosen)]


def _thread_citation(number: int, message: ThreadMessage, snippet: str) -> Citation:
    return Citation(number=number, source=THREAD_SOURCE, location=thread_location(message),
                    snippet=_snippet(snippet), document_id=THREAD_DOCUMENT_ID)


def extractive_summary(messages: Sequence[ThreadMessage], *, note: str | None = None) -> Reply:
    """The thread's most central sentences, each with its author, and a note saying they are quoted."""
    chosen = central_sentences(messages)
    if not chosen:
        return Reply(text=prompts.THREAD_EMPTY, answered=False, mode="none")
    numbers: dict[int, int] = {}
    lines = []
    for sentence in chosen:
        number = numbers.setdefault(sentence.message, len(numbers) + 1)
        lines.append(f"> **{messages[sentence.message].author}**: {' '.join(sentence.text.split())} [{number}]")
    citations = tuple(_thread_citation(n, messages[i], " ".join(s.text for s in chosen if s.message == i))
                      for i, n in numbers.items())
    korean = _is_korean(" ".join(m.text for m in messages))
    note = note or (prompts.SUMMARY_EXTRACTIVE_NOTE_KO if korean else prompts.SUMMARY_EXTRACTIVE_NOTE)
    return Reply(text="\n".join(lines) + "\n\n" + note, citations=citations, consulted=citations, mode="extractive")


def _fit_thread(messages: Sequence[ThreadMessage], *, budget_tokens: int,
               max_tokens_each: int) -> list[ThreadMessage]:
    """The messages that fit the prompt, each cut like a remembered turn: the root always, then the most
    recent replies (the oldest replies go first)."""
    cut = [replace(m, text=truncate_to_tokens(m.text, max_tokens_each)) for m in messages]
    kept = list(cut)
    while len(kept) > 1 and estimate_message_tokens(
            [prompts.SUMMARY_SYSTEM.format(messages=_entries(kept)), prompts.SUMMARY_REQUEST]) > budget_tokens:
        kept.pop(1)  # the oldest reply; the root says what the thread is about
    return kept


def _entries(messages: Sequence[ThreadMessage]) -> str:
    return "\n\n".join(prompts.SOURCE_ENTRY.format(number=n, source=m.author, text=m.text,
                                                    location=f" ({m.at:%Y-%m-%d %H:%M} UTC)")
                        for n, m in enumerate(messages, start=1))


async def summarize_thread(messages: Sequence[ThreadMessage], *, chat_model: object | None, context_tokens: int,
                           answer_tokens: int, on_delta: Callable[[str], None]) -> tuple[Reply, dict[str, int]]:
    """A summary of the thread from its messages alone, and the model's token usage.

    Without a model the most central sentences are quoted (`extractive_summary`). When the model is
    away or fails before writing a word, the quotes stand in, with a note saying why; a failure after
    it started writing propagates (the caller says what went wrong).
    """
    if not messages:
        return Reply(text=prompts.THREAD_EMPTY, answered=False, mode="none"), {}
    if chat_model is None:
        return extractive_summary(messages), {}
    budget = ContextBudget(context_tokens, answer_tokens).prompt_tokens
    sent = _fit_thread(messages, budget_tokens=budget,
                       max_tokens_each=per_message_tokens(context_tokens=context_tokens, answer_tokens=answer_tokens))
    prompt = [SystemMessage(prompts.SUMMARY_SYSTEM.format(messages=_entries(sent))),
              HumanMessage(prompts.SUMMARY_REQUEST)]
    written: list[str] = []

    def delta(text: str) -> None:
        written.append(text)
        on_delta(text)

    try:
        outcome = await _call_model(chat_model, prompt, max_tokens=answer_tokens, on_delta=delta)
    except Exception as exc:
        described = describe_model_error(exc)
        if written or described is None:
            raise
        reason = described[1].split(". ")[0].rstrip(".")
        return extractive_summary(messages, note=prompts.SUMMARY_MODEL_FAILED_NOTE.format(reason=reason)), {}
    cited = set(_cited_numbers(outcome.text, len(sent)))
    citations = tuple(_thread_citation(n, m, m.text) for n, m in enumerate(sent, start=1) if n in cited)
    return Reply(text=outcome.text.strip(), citations=citations, consulted=citations, mode="llm"), outcome.usage
