"""Attack: how the answerability node (agent/answerability.py) reads a question, asked through the
console adapter of the demo (`make demo`'s documents) as a user would.

- Invisible characters inside a word (a zero-width space, a soft hyphen, a joiner) split it where a
  reader sees one word: "When is the de\\u200bploy freeze?" was declined, and so was a question about
  a document whose words were split the same way (word processors put soft hyphens in words).
- Full-width letters hid what a question asks for ("Ｗｈｅｎ ..." was not a "when" question), and a
  question in capitals or title case had every word taken for a name no document mentions.
- "who" asked after a greeting or a list marker ("1. Who is ...") was not read as asking for someone.
- A true sentence pasted before an unrelated question ("Deploys are frozen on Fridays after 15:00.
  What is our parental leave policy?") was answered with the pasted sentence, because the documents
  hold it; in lower case, on a line of its own, joined by a dash or a semicolon, or in Korean without a
  full stop after "니다", too. And a question under pasted log lines was weighed with the log's words.
- A label before the question ("Q:", "Question:", "Quick question -") weighed as its rarest word.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from adapters.console.adapter import ConsoleAdapter
from agent import prompts
from agent.answerability import AnswerKind, TermRarity, asked_kind, asked_part, unknown_names
from agent.text import TOKENIZER_VERSION, lexical_tokens
from bot.app import Teambot
from tests.support.demo import ask, demo_recipe, ingest_demo, lines
from tests.support.indexed_documents import SALES, indexed_document, open_knowledge

FREEZE = "Deploys are frozen on Fridays after 15:00"
DATA_ROW = "team: Data; primary: Grace Lee"
ROLLBACK = "run `make rollback` with the release tag"
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]


@pytest.fixture
async def demo_chat(teambot: Teambot, monkeypatch: pytest.MonkeyPatch) -> tuple[Teambot, str]:
    await ingest_demo(teambot, monkeypatch)
    return teambot, demo_recipe()[1]


async def test_invisible_characters_inside_a_questions_words_do_not_hide_them(
    demo_chat: tuple[Teambot, str],
) -> None:
    bot, chat = demo_chat
    for number, char in enumerate(INVISIBLE):
        for question in (f"When is the de{char}ploy freeze?", f"When is the deploy fre{char}eze?"):
            reply = await ask(bot, question, chat, thread=f"{number}:{question.index(char)}")
            assert reply.answered and FREEZE in reply.text, (question, reply.text)
    reply = await ask(bot, "\ufeffWho is on call for the Da\u200bta team?", chat)
    assert reply.answered and DATA_ROW in reply.text, reply.text


async def test_a_full_width_question_is_read_as_the_plain_one(demo_chat: tuple[Teambot, str]) -> None:
    bot, chat = demo_chat
    plain = await ask(bot, "When is the deploy freeze?", chat)
    wide = await ask(bot, "Ｗｈｅｎ ｉｓ ｔｈｅ ｄｅｐｌｏｙ ｆｒｅｅｚｅ？", chat, thread="wide")
    # It is a "when" question: only the sentence with the time is quoted, not the one about main.
    assert wide.answered and wide.text == plain.text, wide.text
    assert "release pipeline" not in wide.text
    assert asked_kind("Ｈｏｗ ｍａｎｙ ｄａｙｓ？") is AnswerKind.NUMBER


@pytest.mark.parametrize("question", ["WHEN IS THE DEPLOY FREEZE?", "When Is The Deploy Freeze?"])
async def test_a_question_in_capitals_has_no_word_taken_for_a_name(
    demo_chat: tuple[Teambot, str], question: str,
) -> None:
    bot, chat = demo_chat
    reply = await ask(bot, question, chat)
    assert reply.answered and FREEZE in reply.text, reply.text


async def test_capitals_still_tell_a_name_no_document_mentions() -> None:
    rarity = TermRarity(idf={}, unknown=frozenset({"tesla", "freeze"}))
    assert unknown_names("WHEN IS THE DEPLOY FREEZE?", rarity) == []
    assert unknown_names("We plan a release. Freeze starts when?", rarity) == []  # a sentence's first word
    assert unknown_names("When was Tesla born?", rarity) == ["Tesla"]
    assert unknown_names("- When was Tesla born?", rarity) == ["Tesla"]


@pytest.mark.parametrize("question", [
    "1. Who is on call for the Data team?",
    "Hey - who is on call for the Data team?",
    "Quick one: who is on call for the Data team?",
])
async def test_who_after_a_list_marker_or_a_greeting_asks_for_someone(
    demo_chat: tuple[Teambot, str], question: str,
) -> None:
    bot, chat = demo_chat
    assert asked_kind(question) is AnswerKind.PERSON
    reply = await ask(bot, question, chat)
    assert reply.answered and DATA_ROW in reply.text, reply.text
    assert [c.source for c in reply.citations] == ["on-call-contacts.csv"], reply.text


@pytest.mark.parametrize("message", [
    "Deploys are frozen on Fridays after 15:00. What is our parental leave policy?",
    "Deploys are frozen on Fridays after 15:00. When is the all-hands meeting?",
    "deploys are frozen on fridays after 15:00. what is our parental leave policy?",
    "Deploys are frozen on Fridays after 15:00 - what is our parental leave policy?",
    "Deploys are frozen on Fridays after 15:00; what is our parental leave policy?",
    "Deploys are frozen on Fridays after 15:00.\n\nWhat is our parental leave policy?",
    "\"Deploys are frozen on Fridays after 15:00.\" What is our parental leave policy?",
    "Deploys are frozen on Fridays after 15:00\nWhat is our parental leave policy?",
    # Pointing back at the pasted sentence does not make the question's own words unnecessary.
    "Deploys are frozen on Fridays after 15:00. Is that our parental leave policy?",
    "Deploys are frozen on Fridays after 15:00. Any idea about parental leave?",
])
async def test_a_pasted_true_sentence_does_not_answer_an_unrelated_question(
    demo_chat: tuple[Teambot, str], message: str,
) -> None:
    bot, chat = demo_chat
    reply = await ask(bot, message, chat)
    assert not reply.answered and reply.text == prompts.DONT_KNOW, (message, reply.text)


async def test_a_pasted_korean_sentence_does_not_answer_an_unrelated_question(
    demo_chat: tuple[Teambot, str],
) -> None:
    bot, chat = demo_chat
    for message in ("재택근무는 주 2회까지 가능합니다. 육아 휴직은 며칠인가요?",
                    "직원은 매년 15일의 연차 휴가를 받습니다 육아 휴직은 며칠인가요?"):
        reply = await ask(bot, message, chat)
        assert not reply.answered and reply.text == prompts.DONT_KNOW_KO, (message, reply.text)


@pytest.mark.parametrize(("message", "fact", "source"), [
    # The statement is context: the question is answered as if asked alone.
    ("I joined the Data team last week. When is the deploy freeze?", FREEZE, "team-handbook.md"),
    ("Deploys are frozen on Fridays after 15:00. Who is on call for the Data team?", DATA_ROW,
     "on-call-contacts.csv"),
    ("We deploy from main. How do I roll back a deploy?", ROLLBACK, "team-handbook.md"),
    # The question points back at the statement: both count.
    ("A deploy went wrong. How do I roll it back?", ROLLBACK, "team-handbook.md"),
    ("Deploys are frozen on Fridays after 15:00 and during public holidays. Is that right?", FREEZE,
     "team-handbook.md"),
    ("When is the deploy freeze? Thanks!", FREEZE, "team-handbook.md"),
    # A question that only asks for help with the statement is about the statement.
    ("I need to know when the deploy freeze starts. Any idea?", FREEZE, "team-handbook.md"),
    ("When is the deploy freeze. Any idea?", FREEZE, "team-handbook.md"),
    ("Who is on call for the Data team. Anyone know?", DATA_ROW, "on-call-contacts.csv"),
    ("재택근무는 일주일에 몇 번 가능합니까. 아시는 분?", "주 2회까지", "근무-규정.md"),
    ("ERROR 2026-05-01 12:00:03 deploy failed: upstream timeout\n" * 20 + "How do I roll back a deploy?", ROLLBACK,
     "team-handbook.md"),
    # A line that runs on in lower case, or in Korean, is one sentence wrapped by hand.
    ("When is the deploy\nfreeze?", FREEZE, "team-handbook.md"),
    ("재택근무는 일주일에\n몇 번 가능한가요?", "주 2회까지", "근무-규정.md"),
    ("저는 작년에 입사했습니다. 연차 휴가는 며칠인가요?", "매년 15일의 연차 휴가", "근무-규정.md"),
])
async def test_a_question_beside_a_statement_is_answered_when_the_documents_answer_it(
    demo_chat: tuple[Teambot, str], message: str, fact: str, source: str,
) -> None:
    bot, chat = demo_chat
    reply = await ask(bot, message, chat)
    assert reply.answered and fact in reply.text, (message, reply.text)
    assert [c.source for c in reply.citations] == [source], (message, reply.text)


@pytest.mark.parametrize("question", [
    "Q: When is the deploy freeze?",
    "Question: when is the deploy freeze?",
    "Quick question - when is the deploy freeze?",
])
async def test_a_label_before_the_question_is_not_part_of_it(demo_chat: tuple[Teambot, str], question: str) -> None:
    bot, chat = demo_chat
    reply = await ask(bot, question, chat)
    assert reply.answered and FREEZE in reply.text, reply.text


def test_the_question_sentences_of_a_message() -> None:
    assert asked_part("When is the deploy freeze?") is None
    assert asked_part("Hi! When is the deploy freeze? Thanks!") is None  # courtesy states nothing
    assert asked_part("Who is on call? When is the freeze?") is None  # all of it asks
    pasted = asked_part("Deploys are frozen on Fridays. What is our parental leave policy?")
    assert pasted is not None and pasted.text == "What is our parental leave policy?" and not pasted.refers_back
    assert pasted.words == [("parental",), ("leave",), ("policy",)]
    backup = asked_part("We use Postgres. How do I back it up?")
    assert backup is not None and backup.refers_back and backup.words == [("back",)]
    confirm = asked_part("Deploys are frozen on Fridays. Is that right?")
    assert confirm is not None and confirm.refers_back and confirm.words == []


async def test_invisible_characters_inside_a_documents_words_do_not_hide_them(
    teambot: Teambot, tmp_path: Path,
) -> None:
    # As a word processor exports it: soft hyphens where a word may break, a zero-width space in a day.
    path = tmp_path / "vpn.md"
    path.write_text("# VPN\n\nThe VPN pass\u00adphrase ro\u00adtates every Mon\u200bday at 09:00.\n")
    out = io.StringIO()
    await ConsoleAdapter(teambot, channel="it", lines=lines(f"/upload {path}", "/quit"), out=out).run()
    assert "✗" not in out.getvalue(), out.getvalue()
    reply = await ask(teambot, "When does the VPN passphrase rotate?", "it")
    assert reply.answered and "09:00" in reply.text, reply.text
    reply = await ask(teambot, "Which day does the VPN passphrase change?", "it", thread="day")
    assert reply.answered, reply.text


async def test_terms_stored_before_invisible_characters_were_dropped_are_recomputed(tmp_path: Path) -> None:
    path = tmp_path / "k.sqlite3"
    text = "Deploys are fro\u00adzen on Fridays."
    async with open_knowledge(path) as (catalog, lexical):
        info, chunks, _ = indexed_document("handbook", SALES, [text])
        # The terms the earlier tokenizer stored: the soft hyphen split "frozen".
        await catalog.replace_document(info, chunks, [["handbook", "deploy", "fro", "zen", "friday"]])
    with sqlite3.connect(path) as db:  # version 3 folded accents, 4 drops invisible characters
        db.execute("UPDATE index_meta SET value = '3' WHERE key = 'tokenizer_version'")
    assert TOKENIZER_VERSION > 3
    async with open_knowledge(path) as (catalog, lexical):
        hits = await lexical.search(lexical_tokens("frozen deploys"), [SALES], limit=5)
        assert [chunk_id for chunk_id, _ in hits] == ["handbook#0"]
        stored = await catalog.candidate_details(["handbook#0"], with_terms=["handbook#0"])
        assert "frozen" in stored.terms["handbook#0"]
