"""The demo as `make demo` sets it up: the questions README's Quickstart suggests get the right answer
from samples/, and questions the samples do not cover get "I don't know" (not a README sentence)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from agent import prompts
from bot.app import Teambot
from tests.support.demo import ask, demo_recipe, ingest_demo


@pytest.fixture
async def demo(teambot: Teambot, monkeypatch: pytest.MonkeyPatch) -> Teambot:
    return await ingest_demo(teambot, monkeypatch)


def test_the_demo_chat_opens_on_the_team_documents_alone() -> None:
    ingests, chat = demo_recipe()
    in_chat = [path for paths, channel in ingests if channel == chat for path in paths]
    assert in_chat == ["samples"]
    assert any("README.md" in paths for paths, channel in ingests if channel != chat), "README.md has its own channel"


ANSWERS = [
    # README Quickstart: the deploy freeze, who is on call for a team, rolling back, annual leave in Korean.
    ("When is the deploy freeze?", "team-handbook.md", "Deploys are frozen on Fridays after 15:00"),
    ("Who is on call for the Data team?", "on-call-contacts.csv", "team: Data; primary: Grace Lee"),
    # The handbook's title is "Acme Platform Team Handbook" and it has an On-call section, but it names
    # nobody: the contact sheet's Platform row answers.
    ("Who is on call for the Platform team?", "on-call-contacts.csv", "team: Platform; primary: Ada Kim"),
    ("Who is the primary on-call for Mobile?", "on-call-contacts.csv", "primary: Margaret Han"),
    ("How do I roll back a deploy?", "team-handbook.md", "run `make rollback` with the release tag"),
    ("연차 휴가는 며칠인가요?", "근무-규정.md", "매년 15일의 연차 휴가"),
    ("재택근무는 일주일에 몇 번 가능한가요?", "근무-규정.md", "주 2회까지"),
    # "할 수 있나요" (can I) is grammar, not content: it once weighed as rare words no document holds.
    ("재택근무는 일주일에 몇 번 할 수 있나요?", "근무-규정.md", "주 2회까지"),
    ("연차는 며칠이야?", "근무-규정.md", "매년 15일의 연차 휴가"),
]
NOT_QUOTED = {  # sentences beside the answer that do not answer the question
    "When is the deploy freeze?": ["make rollback", "release pipeline"],
    "Who is on call for the Platform team?": ["engineering manager", "rotation", "Grace Lee"],
}
DECLINES = [  # the wrong answers: each used to quote something that shares a word or two
    "What is our parental leave policy?",
    "How many vacation days do I get?",
    "When is the all-hands meeting?",
    "How do I reset my laptop password?",
]
DECLINES_KO = ["육아 휴직은 며칠인가요?"]  # parental leave: the work rules speak of annual leave only
ABOUT_TEAMBOT = [  # README Quickstart: teambot itself, in its own channel
    ("What is teambot?", "teambot is a knowledge bot for team chat."),
    ("How do I install teambot?", "make demo"),
    ("Does teambot work with Korean documents?", "Korean documents and questions work as well as English ones."),
]
# The README suggests asking about the deploy freeze; it does not say when the freeze is.
DECLINES_ABOUT_TEAMBOT = ["When is the deploy freeze?"]


async def test_the_demo_answers_what_the_readme_suggests_and_declines_the_rest(demo: Teambot) -> None:
    _, chat = demo_recipe()
    for question, source, fact in ANSWERS:
        reply = await ask(demo, question, chat)
        assert reply.answered, question
        assert fact in reply.text, (question, reply.text)
        assert [c.source for c in reply.citations] == [source], (question, reply.text)
        for unrelated in NOT_QUOTED.get(question, []):
            assert unrelated not in reply.text, (question, reply.text)
    data = await ask(demo, "Who is on call for the Data team?", chat)
    assert "Ada Kim" not in data.text and "Margaret Han" not in data.text, "only the Data row is quoted"
    # "then follow up in the same thread"
    await ask(demo, "Who is on call for the Data team?", chat, thread="follow-up")
    mobile = await ask(demo, "And for Mobile?", chat, thread="follow-up")
    assert "team: Mobile; primary: Margaret Han" in mobile.text and "Grace Lee" not in mobile.text
    for question in DECLINES:
        reply = await ask(demo, question, chat)
        assert not reply.answered and reply.citations == (), (question, reply.text)
        assert reply.text == prompts.DONT_KNOW, question
    for question in DECLINES_KO:
        reply = await ask(demo, question, chat)
        assert not reply.answered and reply.text == prompts.DONT_KNOW_KO, (question, reply.text)

    ingests, _ = demo_recipe()
    [help_channel] = [channel for paths, channel in ingests if "README.md" in paths]
    for question, fact in ABOUT_TEAMBOT:
        reply = await ask(demo, question, help_channel)
        assert reply.answered and fact in reply.text, (question, reply.text)
        assert {c.source for c in reply.citations} == {"README.md"}
    for question in DECLINES_ABOUT_TEAMBOT:
        reply = await ask(demo, question, help_channel)
        assert not reply.answered and reply.text == prompts.DONT_KNOW, (question, reply.text)

    # The reports' list of questions the bot could not answer holds exactly the declined ones.
    today = datetime.now(demo.usage.tz).date()
    gaps = {gap for day in await demo.usage.read_days([today - timedelta(days=1), today]) for gap in day.gaps}
    assert gaps == {*DECLINES, *DECLINES_KO, *DECLINES_ABOUT_TEAMBOT}
