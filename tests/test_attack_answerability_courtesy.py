"""Attack: courtesy words made the answerability node decline what the documents answer. "When is
the deploy freeze?" was answered; "When is the deploy freeze, please?", "Hi! When is …" and "… ?
Thanks!" were not: no document says "please" or "thanks", so they weighed as the question's rarest
words (too little evidence), and a capitalised "Thanks" was taken for a name no document mentions.
Korean questions already leave their grammar words out (`KOREAN_FUNCTION_WORDS`, issue 20); the
English courtesy words are left out the same way.
"""

from __future__ import annotations

import pytest

from agent.answerability import judge
from tests.test_answerability import HANDBOOK_DEPLOYING, HANDBOOK_ON_CALL, README_QUICKSTART, passage, rarity_in

CORPUS = [HANDBOOK_DEPLOYING, HANDBOOK_ON_CALL, README_QUICKSTART]


@pytest.mark.parametrize("question", [
    "When is the deploy freeze, please?",
    "Hi! When is the deploy freeze?",
    "Hello, when is the deploy freeze?",
    "When is the deploy freeze? Thanks!",
    "When is the deploy freeze? Thank you.",
    "Hey, when is the deploy freeze? thx",
])
async def test_a_polite_question_is_answered_as_the_plain_one_is(question: str) -> None:
    judgement = judge(question, [passage(HANDBOOK_DEPLOYING)], rarity=await rarity_in(question, CORPUS),
                      min_relevance=0.3)
    assert judgement.answers, (judgement.reason, judgement.evidence)


async def test_courtesy_words_do_not_make_an_unanswered_question_answered() -> None:
    question = "When is the payroll cutoff, please? Thanks!"
    judgement = judge(question, [passage(HANDBOOK_DEPLOYING)], rarity=await rarity_in(question, CORPUS),
                      min_relevance=0.3)
    assert not judgement.answers
