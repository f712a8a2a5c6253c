"""Attack: courtesy words made the answerability node decline what the documents answer. "When is
the deploy freeze?" was answered; "When is the deploy freeze, please?", "Hi! When is …" and "… ?
Thanks!" were not: no document says "please" or "thanks", so they weighed as the question's rarest
words (too little evidence), and a capitalised "Thanks" was taken for a name no document mentions.
Korean questions already leave their grammar words out (`KOREAN_FUNCTION_WORDS`, issue 20); the
English courtesy words are left out the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pytest

from agent.answerability import Judgement, judge, term_rarity
from agent.records import Chunk, Passage
from agent.text import lexical_tokens
from bot.core.values import Scope

SCOPE = Scope("console", "local", "demo")
DEPLOYING = ("Production deploys happen from the `main` branch through the release pipeline. Deploys are frozen\n"
             "on Fridays after 15:00 and during public holidays. To roll back, run `make rollback` with the release\n"
             "tag; a rollback does not need approval.")
ON_CALL = ("The on-call rotation changes every Monday at 10:00 KST. The primary on-call engineer answers pages\n"
           "within 15 minutes. Escalate incidents of severity 1 to the engineering manager immediately.")


class CorpusIdf:
    """An index's `idf` (BM25, as the knowledge index computes it) over a channel's few chunks."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.chunks = [set(lexical_tokens(text)) for text in texts]

    async def idf(self, terms: Iterable[str], scopes: Sequence[Scope]) -> dict[str, float]:
        corpus = max(len(self.chunks), 1000)
        frequency = {t: sum(t in chunk for chunk in self.chunks) for t in terms}
        return {t: math.log(1 + (corpus - f + 0.5) / (f + 0.5)) for t, f in frequency.items()}


async def _judged(question: str) -> Judgement:
    chunk = Chunk(id="handbook.md:0", document_id="handbook.md", ordinal=0, text=DEPLOYING, source="handbook.md",
                  title="", location="", scope=SCOPE)
    rarity = await term_rarity(CorpusIdf([DEPLOYING, ON_CALL]), lexical_tokens(question), [SCOPE])
    return judge(question, [Passage(chunk=chunk, score=1.0, coverage=1.0)], rarity=rarity, min_relevance=0.3)


@pytest.mark.parametrize("question", [
    "When is the deploy freeze, please?",
    "Hi! When is the deploy freeze?",
    "Hello, when is the deploy freeze?",
    "When is the deploy freeze? Thanks!",
    "When is the deploy freeze? Thank you.",
    "Hey, when is the deploy freeze? thx",
])
async def test_a_polite_question_is_answered_as_the_plain_one_is(question: str) -> None:
    assert (await _judged("When is the deploy freeze?")).answers
    judgement = await _judged(question)
    assert judgement.answers, (judgement.reason, judgement.evidence)


async def test_courtesy_words_do_not_make_an_unanswered_question_answered() -> None:
    assert not (await _judged("When is the payroll cutoff, please? Thanks!")).answers
