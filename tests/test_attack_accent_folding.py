"""Attack: hostile accents through the tokenizer that ingestion and questions share (`lexical_tokens`).

Normalization (NFKC, and the accent folding's NFD/NFC) puts a run of combining marks in canonical
order with an insertion sort (CPython's unicodedata): quadratic in the run's length, in C, holding
the GIL. 200,000 alternating marks (U+0301 of class 230, U+0316 of class 220) took 30 s to tokenize;
a document is tokenized a chunk at a time, so with `TEAMBOT_CHUNK_SIZE=20000` each chunk of such a
document stalled the whole bot for 0.3 s. Runs are now cut to Unicode's stream-safe 30 marks first.
And a knowledge base indexed by the tokenizer before accent folding answers accent-free questions
once restarted (its terms are recomputed).
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable

import pytest

import agent.catalog
import agent.text
from adapters.fake.adapter import FakeAdapter
from agent.text import MAX_MARK_RUN, lexical_tokens, normalize, query_terms
from bot.app import Teambot
from bot.settings import Settings
from tests.support.documents import DEPLOY_GUIDE

SIZE = 200_000
"""Characters of each hostile text: quadratic work shows (half a minute here), linear work takes milliseconds."""

HISTORY = "# Mongol history\n\nMöngke Khan commenced a military campaign against the Song dynasty in 1258.\n"


def _hostile(size: int) -> dict[str, str]:
    def repeat(unit: str) -> str:
        return unit * (size // len(unit))

    return {
        "alternating mark classes": "a" + repeat("\u0301\u0316"),
        "alternating, on Hangul": "가" + repeat("\u0316\u0301"),
        "Tibetan vowel signs and an accent": "x" + repeat("\u0f73\u0301"),
        "half-width kana marks and an accent": "x" + repeat("\uff9e\u0301"),
        "Zalgo": repeat("e" + "".join(chr(0x300 + (i * 7) % 0x70) for i in range(40))),
        "marks alone": repeat("\u0316\u0301"),
        "alternating scripts": repeat("é가ア"),
    }


def _elapsed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


@pytest.mark.parametrize("tokenize", [lexical_tokens, query_terms], ids=["documents", "questions"])
def test_piles_of_combining_marks_tokenize_in_linear_time(tokenize: Callable[[str], list[str]]) -> None:
    # Relative to ordinary text of the same size, measured at the same moment (see test_pathological_text).
    ordinary = (DEPLOY_GUIDE.decode() + " Möngke Gospić 연차는 15일입니다. ") * (SIZE // 1000)
    bound = max(3.0, 50 * _elapsed(lambda: tokenize(ordinary[:SIZE])))
    slow = {shape: round(elapsed, 1) for shape, text in _hostile(SIZE).items()
            if (elapsed := _elapsed(lambda text=text: tokenize(text))) > bound}
    assert not slow, f"took seconds on: {slow}"


def test_cutting_a_pile_of_marks_changes_no_term() -> None:
    assert lexical_tokens("ka" + "\u0301\u0316" * 100 + "b") == lexical_tokens("kab") == ["kab"]
    assert lexical_tokens("연차" + "\u0316" * 100 + "휴가") == lexical_tokens("연차 휴가")
    assert normalize("Möngke" + "\u0301" * (MAX_MARK_RUN + 5)) == "mongke"
    assert normalize("が" * 3 + "\u3099" * 50).startswith("がが")  # kana keep their dakuten


def test_every_mark_normalization_reorders_is_cut() -> None:
    """The class `normalize` cuts runs of holds every character canonical reordering moves (a non-zero
    combining class, or a decomposition starting with one), in the Unicode version Python has."""
    cut = agent.text._MARK_RUN
    for code in range(0x110000):
        char = chr(code)
        decomposed = unicodedata.normalize("NFKD", char)
        if unicodedata.combining(char) or (decomposed and unicodedata.combining(decomposed[0])):
            assert cut.sub(r"\1", char * (MAX_MARK_RUN + 2)) == char * MAX_MARK_RUN, hex(code)


async def test_a_knowledge_base_indexed_before_accent_folding_answers_accent_free_questions(
        make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings()
    with monkeypatch.context() as before:  # tokenizer version 2: NFKC and lower case, accents kept
        before.setattr(agent.text, "normalize", lambda text: unicodedata.normalize("NFKC", text).lower())
        before.setattr(agent.catalog, "TOKENIZER_VERSION", 2)
        async with Teambot(settings) as teambot:
            fake = FakeAdapter(teambot)
            await fake.upload("history.md", HISTORY.encode())
            reply = (await fake.say("Where did Mongke Khan attack the Song dynasty?")).reply
            assert reply is not None and not reply.answered, "version 2 could not tell Mongke is Möngke"
    async with Teambot(settings) as teambot:  # restarted with the current tokenizer
        reply = (await FakeAdapter(teambot).say("Where did Mongke Khan attack the Song dynasty?")).reply
        assert reply is not None and reply.answered and "1258" in reply.text, reply
