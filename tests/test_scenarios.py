"""Scenarios through the fake adapter: the whole core, real Redis and Chroma, no model or the loopback one."""

from __future__ import annotations

from adapters.fake.adapter import FakeAdapter
from bot.app import Teambot
from tests.support.documents import DEPLOY_GUIDE
from tests.support.openai_server import FakeOpenAI


async def test_extractive_answer_quotes_and_cites(teambot: Teambot) -> None:
    fake = FakeAdapter(teambot)
    [outcome] = await fake.upload("guide.md", DEPLOY_GUIDE)
    assert outcome.result is not None and outcome.result.status == "added"

    stream = await fake.say("What is the default port of the web console?")

    assert stream.working_shown
    assert stream.reply is not None and stream.reply.mode == "extractive"
    assert "8080" in stream.reply.text
    assert "No language model is configured" in stream.reply.text
    assert [c.source for c in stream.reply.citations] == ["guide.md"]
    assert stream.reply.citations[0].location == "§ Deploy guide > Linux"


HANDBOOK = b"""# Handbook

## Permissions

Admins may add documents everywhere. Everyone else adds them in their own channel.

## Discord

Invite the bot with the link below; the permissions number in it grants Send Messages.
"""


async def test_extractive_answer_quotes_the_section_the_question_names(teambot: Teambot) -> None:
    """The section headed "Permissions" answers "How do permissions work?", though its sentences never
    repeat the word; a sentence elsewhere that does comes after it, if at all."""
    fake = FakeAdapter(teambot)
    await fake.upload("handbook.md", HANDBOOK)

    stream = await fake.say("How do permissions work?")

    assert stream.reply is not None and stream.reply.mode == "extractive"
    assert stream.reply.text.startswith("> Admins may add documents everywhere. [1]")
    assert stream.reply.citations[0].location == "§ Handbook > Permissions"


async def test_llm_answer_streams_tokens_with_history(teambot_llm: Teambot, openai_server: FakeOpenAI) -> None:
    fake = FakeAdapter(teambot_llm)
    await fake.upload("guide.md", DEPLOY_GUIDE)
    openai_server.reply = "Run make install and start it with systemctl [1]."

    first = await fake.say("How do I deploy on Linux?")
    assert first.reply is not None and first.reply.mode == "llm"
    assert len(first.deltas) > 3, "the answer should arrive token by token"
    assert "".join(first.deltas).strip() == first.reply.text
    assert first.reply.citations[0].source == "guide.md"

    openai_server.requests.clear()
    await fake.say("And on Windows?")
    answer_request = openai_server.chat_requests()[-1]["body"]
    contents = [m["content"] for m in answer_request["messages"]]
    assert "How do I deploy on Linux?" in contents, "the first turn must reach the model as history"
    assert "Run make install and start it with systemctl [1]." in contents


KOREAN_POLICY = ("# 휴가 정책\n\n직원은 매년 15일의 연차 휴가를 받습니다. "
                 "휴가 신청은 최소 3일 전에 인사팀에 제출해야 합니다.\n\n"
                 "# 재택근무\n\n재택근무는 주 2회까지 가능합니다.").encode()


async def test_korean_question_is_answered_from_korean_documents(teambot: Teambot) -> None:
    fake = FakeAdapter(teambot)
    await fake.upload("휴가정책.md", KOREAN_POLICY)

    stream = await fake.say("연차 휴가는 며칠인가요?")

    assert stream.reply is not None and stream.reply.answered
    assert "15일" in stream.reply.text
    assert "언어 모델이 설정되어 있지 않아" in stream.reply.text
    assert stream.reply.citations[0].location == "§ 휴가 정책"


async def test_unrelated_question_gets_i_dont_know(teambot: Teambot) -> None:
    fake = FakeAdapter(teambot)
    await fake.upload("guide.md", DEPLOY_GUIDE)

    for question in ("How do I bake sourdough bread?", "김치찌개는 어떻게 끓이나요?"):
        stream = await fake.say(question, thread=question)
        assert stream.reply is not None and not stream.reply.answered
        assert stream.reply.citations == ()
    assert "I don't know" in (await fake.say("What is the capital of Peru?")).reply.text


async def test_empty_knowledge_base_says_it_does_not_know(teambot_llm: Teambot, openai_server: FakeOpenAI) -> None:
    stream = await FakeAdapter(teambot_llm).say("What is the default port?")
    assert stream.reply is not None and not stream.reply.answered
    assert openai_server.chat_requests() == [], "no passage, so the model is not asked to invent"


async def test_extractive_follow_up_uses_the_thread(teambot: Teambot) -> None:
    fake = FakeAdapter(teambot)
    await fake.upload("guide.md", DEPLOY_GUIDE)
    await fake.say("How do I deploy teambot on Linux?", thread="deploy")

    follow_up = await fake.say("And on Windows?", thread="deploy")

    assert follow_up.reply is not None and "teambot-setup.exe" in follow_up.reply.text
    assert (await teambot.history.load("fake:W1:general:deploy"))[0].question == "How do I deploy teambot on Linux?"


async def test_model_failure_ends_with_a_clear_message(teambot_llm: Teambot, openai_server: FakeOpenAI) -> None:
    fake = FakeAdapter(teambot_llm)
    await fake.upload("guide.md", DEPLOY_GUIDE)
    openai_server.fail_status = 500

    stream = await fake.say("How do I deploy on Linux?")

    assert stream.working_shown and stream.reply is not None
    assert stream.reply.mode == "error" and not stream.reply.answered
    assert stream.reply.text == "Sorry, I couldn't answer: the language model failed (HTTP 500). Please try again."
    assert await teambot_llm.history.load("fake:W1:general:t1") == [], "a failed turn is not remembered"


async def test_conversations_are_answered_concurrently(teambot_llm: Teambot, openai_server: FakeOpenAI) -> None:
    import asyncio

    fake = FakeAdapter(teambot_llm)
    await fake.upload("guide.md", DEPLOY_GUIDE)
    openai_server.first_token_delay_s = 0.3

    streams = await asyncio.gather(*(fake.say("How do I deploy on Linux?", thread=f"t{i}") for i in range(6)))

    assert all(s.reply is not None and s.reply.mode == "llm" for s in streams)
    assert openai_server.max_in_flight == 6, "every conversation should reach the model at once"


async def test_one_thread_is_answered_in_order(teambot_llm: Teambot, openai_server: FakeOpenAI) -> None:
    import asyncio

    fake = FakeAdapter(teambot_llm)
    await fake.upload("guide.md", DEPLOY_GUIDE)
    openai_server.first_token_delay_s = 0.2

    await asyncio.gather(fake.say("How do I deploy on Linux?"), fake.say("And on Windows?"))

    assert openai_server.max_in_flight == 1
    turns = await teambot_llm.history.load("fake:W1:general:t1")
    assert [t.question for t in turns] == ["How do I deploy on Linux?", "And on Windows?"]


async def test_history_survives_a_restart_with_the_embedded_redis(make_settings) -> None:
    settings = make_settings(redis_url=None)
    async with Teambot(settings) as first_run:
        fake = FakeAdapter(first_run)
        await fake.upload("guide.md", DEPLOY_GUIDE)
        await fake.say("What is the default port of the web console?", thread="ops")

    async with Teambot(settings) as second_run:
        turns = await second_run.history.load("fake:W1:general:ops")
        assert [t.question for t in turns] == ["What is the default port of the web console?"]
        assert "8080" in turns[0].answer
        listed = await second_run.knowledge.list_documents([FakeAdapter(second_run).message("").scope])
        assert [d.source for d in listed] == ["guide.md"]


async def test_an_unrelated_question_in_a_thread_is_not_mixed_with_the_last_one(teambot: Teambot) -> None:
    fake = FakeAdapter(teambot)
    await fake.upload("guide.md", DEPLOY_GUIDE)
    await fake.upload("휴가정책.md", KOREAN_POLICY)
    await fake.say("What is the default port of the web console?", thread="mixed")

    korean = await fake.say("재택근무는 일주일에 몇 번 가능한가요?", thread="mixed")
    unrelated = await fake.say("What is the capital of Peru?", thread="mixed")

    assert korean.reply is not None and "주 2회" in korean.reply.text
    assert unrelated.reply is not None and not unrelated.reply.answered
