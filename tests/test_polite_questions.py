"""People ask politely and indirectly as often as directly: "Could you tell me when…", "Do you know
who…", "…며칠인지 궁금합니다" (I wonder how many days…), "…알려 주세요" (please tell me…), "…알고
싶어요" (I'd like to know…). These are a question's manners, not its content: they must not count as
rare words the documents lack (the question declined where its plain form is answered), nor hide what
kind of answer it asks for ("Do you know who…" asks for a person)."""

from __future__ import annotations

import pytest

from agent import prompts
from agent.answerability import question_text
from agent.text import query_terms
from bot.app import Teambot
from tests.support.demo import ask, demo_recipe, ingest_demo

ANNUAL_LEAVE = "매년 15일의 연차 휴가"
WORK_FROM_HOME = "주 2회까지"


@pytest.fixture
async def demo_chat(teambot: Teambot, monkeypatch: pytest.MonkeyPatch) -> tuple[Teambot, str]:
    await ingest_demo(teambot, monkeypatch)
    return teambot, demo_recipe()[1]


@pytest.mark.parametrize("question, plain", [
    ("연차 휴가가 며칠인지 궁금합니다", "연차 휴가는 며칠인가요?"),
    ("연차가 며칠인지 알고 싶어요", "연차는 며칠인가요?"),
    ("연차 휴가는 며칠인지 여쭤봐도 될까요?", "연차 휴가는 며칠인가요?"),
    ("재택근무를 일주일에 몇 번 할 수 있는지 알려주세요", "재택근무는 일주일에 몇 번 할 수 있나요?"),
    ("재택근무 몇 번 가능한지 알려 주실 수 있나요?", "재택근무는 몇 번 가능해요?"),
    ("재택근무는 일주일에 몇 번까지 되는지 설명해 주시겠어요?", "재택근무는 일주일에 몇 번까지 되나요?"),
])
def test_a_polite_korean_question_searches_for_what_its_plain_form_does(question: str, plain: str) -> None:
    assert query_terms(question) == query_terms(plain)


@pytest.mark.parametrize("question, fact", [
    ("연차 휴가가 며칠인지 궁금합니다", ANNUAL_LEAVE),
    ("연차가 며칠인지 알고 싶어요", ANNUAL_LEAVE),
    ("연차 휴가는 며칠인지 여쭤봐도 될까요?", ANNUAL_LEAVE),
    ("재택근무를 일주일에 몇 번 할 수 있는지 알려주세요", WORK_FROM_HOME),
    ("재택근무 몇 번 가능한지 알려 주실 수 있나요?", WORK_FROM_HOME),
])
async def test_a_polite_korean_question_is_answered_as_its_plain_form_is(
        demo_chat: tuple[Teambot, str], question: str, fact: str) -> None:
    teambot, chat = demo_chat
    reply = await ask(teambot, question, chat)
    assert reply.answered and fact in reply.text, (question, reply.text)


async def test_a_polite_korean_question_the_documents_do_not_answer_is_still_declined(
        demo_chat: tuple[Teambot, str]) -> None:
    teambot, chat = demo_chat
    reply = await ask(teambot, "육아 휴직은 며칠인지 알려주세요", chat)  # parental leave: not in the work rules
    assert not reply.answered and reply.text == prompts.DONT_KNOW_KO, reply.text


ENGLISH = [
    ("Could you tell me when the deploy freeze is?", "Deploys are frozen on Fridays after 15:00"),
    ("I was wondering when the deploy freeze starts", "Deploys are frozen on Fridays after 15:00"),
    # "start" asks "when" again: the handbook answers without the word.
    ("When does the deploy freeze start?", "Deploys are frozen on Fridays after 15:00"),
    ("Do you know who is on call for the Data team?", "team: Data; primary: Grace Lee"),
    ("Can you let me know how to roll back a deploy?", "run `make rollback` with the release tag"),
    ("Hi, does anyone know who is on call for the Data team?", "team: Data; primary: Grace Lee"),
    ("Please tell me how to roll back a deploy", "run `make rollback` with the release tag"),
]


@pytest.mark.parametrize("question, plain", [
    ("Could you tell me when the deploy freeze is?", "when the deploy freeze is?"),
    ("Do you know who is on call for the Data team?", "who is on call for the Data team?"),
    ("Hi, does anyone know if deploys are frozen on Fridays?", "deploys are frozen on Fridays?"),
    ("I'd like to know how many days of annual leave I get", "how many days of annual leave I get"),
    # Words of a request that are the question's content stay: "Tell me about the Falcon release."
    ("Tell me about the Falcon release", "Tell me about the Falcon release"),
])
def test_an_english_request_is_read_as_the_question_it_makes(question: str, plain: str) -> None:
    assert question_text(question) == plain


@pytest.mark.parametrize("question, fact", ENGLISH)
async def test_an_indirect_english_question_is_answered_as_its_plain_form_is(
        demo_chat: tuple[Teambot, str], question: str, fact: str) -> None:
    teambot, chat = demo_chat
    reply = await ask(teambot, question, chat)
    assert reply.answered and fact in reply.text, (question, reply.text)
