"""Votes on answers, stored with the answer they rate, read back by the ones allowed to: the operator's
`teambot feedback list`, the admin-only `GET /api/v1/feedback`, and the reports (each audience its own)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from adapters.base import CollectingStream
from adapters.fake.adapter import FakeAdapter
from bot.app import Teambot
from bot.redis_server import EmbeddedRedis
from bot.reports import build_report, render_text
from bot.reports.aggregate import Audience
from bot.reports.periods import Period
from bot.settings import Settings
from bot.usage import pseudonym
from tests.support.cli import cli_env, run_cli
from tests.support.documents import DEPLOY_GUIDE
from tests.support.web_app import upload_form, web_app_client

TOKEN = "api-test-token"
QUESTION = "What is the default port of the web console?"
PRIVATE_QUESTION = "Which default port does the web console use?"


async def rated(teambot: Teambot) -> None:
    """Answers in W1's public `ops` (👎 "outdated" by bob, 👍 by carol) and private `board` (👎), one in W2."""
    fake = FakeAdapter(teambot)
    for channel in ("ops", "board"):
        await fake.upload("guide.md", DEPLOY_GUIDE, channel=channel)
    public = replace(fake.message(QUESTION, channel="ops"), visibility="public")
    commands = teambot.commands
    reply = await commands.ask(public, CollectingStream())
    assert reply.answer_id and reply.citations, "an answer from the guide, kept for feedback"
    vote = await commands.record_feedback(platform="fake", workspace="W1", user="bob", answer_id=reply.answer_id,
                                          helpful=False, link="https://chat.example/ops/1")
    assert vote is not None
    assert await commands.feedback_reason(platform="fake", workspace="W1", user="bob", answer_id=reply.answer_id,
                                          reason="outdated") is not None
    assert await commands.feedback_reason(platform="fake", workspace="W1", user="carol",
                                          answer_id=reply.answer_id, reason="missing") is None, "no vote, no reason"
    await commands.record_feedback(platform="fake", workspace="W1", user="carol", answer_id=reply.answer_id,
                                   helpful=True)
    private = (await fake.say(PRIVATE_QUESTION, channel="board", thread="t2")).reply
    await commands.record_feedback(platform="fake", workspace="W1", user="bob", answer_id=private.answer_id,
                                   helpful=False)
    other = (await fake.say(QUESTION, channel="ops", workspace="W2", thread="t3")).reply
    assert await commands.record_feedback(platform="fake", workspace="W1", user="bob", answer_id=other.answer_id,
                                          helpful=False) is None, "a vote never reaches another workspace's answer"


async def test_reports_list_not_helpful_answers_to_the_audience_allowed_to_see_them(teambot: Teambot) -> None:
    await rated(teambot)
    today = datetime.now(UTC).astimezone(teambot.usage.tz).date()
    period = Period("day", today, today + timedelta(days=1))

    public_report = await build_report(teambot.usage, period, feedback=teambot.feedback, audience=Audience(
        platform="fake", workspace="W1", channel="reports", public_channels=True))
    now = public_report.current
    assert [(a.question, a.documents, a.reasons, a.link) for a in now.downvoted] == [
        (QUESTION, ["guide.md"], ["outdated"], "https://chat.example/ops/1")]
    assert now.downvoted_documents == [("guide.md", 1)] and now.downvote_reasons == {"outdated": 1}
    assert (now.downvoted_answers, now.unnamed_downvoted) == (2, 1), "the private channel's 👎 only counted"
    text = render_text(public_report)
    assert "**Answers rated not helpful**" in text and "why: outdated" in text
    # Counted: both 👎 in W1's channels, and the one whose answer was another workspace's (only counted).
    assert "not helpful **3** (+3) · why: outdated 1" in text, "reasons counted with the feedback counts"
    assert "[message](https://chat.example/ops/1)" in text and PRIVATE_QUESTION not in text
    assert "Not named here: 1 answers rated not helpful" in text

    elsewhere = await build_report(teambot.usage, period, feedback=teambot.feedback, audience=Audience(
        platform="fake", workspace="W2", channel="ops", public_channels=True))
    assert (elsewhere.current.downvoted, elsewhere.current.downvoted_answers) == ([], 0)
    assert "rated not helpful" not in render_text(elsewhere)

    operator = await build_report(teambot.usage, period, feedback=teambot.feedback)
    assert {a.question for a in operator.current.downvoted} == {QUESTION, PRIVATE_QUESTION}


async def test_feedback_list_on_the_command_line(teambot: Teambot, tmp_path: Path, redis_url: str) -> None:
    await rated(teambot)
    env = cli_env(tmp_path, REDIS_URL=redis_url)
    code, out, err = await run_cli("feedback", "list", "--rating", "not_helpful", "--json", env=env, cwd=tmp_path)
    assert code == 0, err
    votes = json.loads(out)
    assert [(v["question"], v["channel"], v["reason"]) for v in votes] == [
        (PRIVATE_QUESTION, "board", None), (QUESTION, "ops", "outdated")]
    assert votes[1]["citations"][0]["source"] == "guide.md" and votes[1]["citations"][0]["chunk_id"]
    assert votes[1]["voter"] == pseudonym("fake", "bob") and "bob" not in out, "people appear as pseudonyms"

    code, out, err = await run_cli("feedback", "list", env=env, cwd=tmp_path)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3 and any("👎 (outdated) fake:W1:ops" in line and "guide.md" in line for line in lines)

    code, out, err = await run_cli("feedback", "list", "--platform", "fake", env=env, cwd=tmp_path)
    assert code == 1 and "go together" in err


async def test_feedback_api_is_for_the_token_holder_only(make_settings: Callable[..., Settings]) -> None:
    async with Teambot(make_settings(api_token=TOKEN)) as teambot, web_app_client(teambot) as client:
        await rated(teambot)
        assert (await client.get("/api/v1/feedback")).status == 401
        assert (await client.get("/api/v1/feedback", headers={"Authorization": "Bearer wrong"})).status == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        response = await client.get("/api/v1/feedback", params={"rating": "not_helpful", "platform": "fake",
                                                                 "workspace": "W1", "days": "2"}, headers=auth)
        assert response.status == 200
        votes = (await response.json())["votes"]
        assert [(v["answer"]["question"], v.get("reason")) for v in votes] == [
            (PRIVATE_QUESTION, None), (QUESTION, "outdated")]
        assert votes[1]["answer"]["citations"][0]["source"] == "guide.md"
        assert votes[1]["link"] == "https://chat.example/ops/1"
        elsewhere = await client.get("/api/v1/feedback", params={"platform": "fake", "workspace": "W2"},
                                     headers=auth)
        assert (await elsewhere.json())["votes"] == []
        for bad in ({"days": "0"}, {"days": "soon"}, {"rating": "meh"}, {"platform": "fake"}):
            response = await client.get("/api/v1/feedback", params=bad, headers=auth)
            assert response.status == 400, bad
            assert len((await response.json())["error"].splitlines()) == 1


async def test_an_answer_given_while_redis_is_down_still_has_its_buttons(
        make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    redis_server = EmbeddedRedis(tmp_path / "redis", persist=True)
    await redis_server.start()
    try:
        async with Teambot(make_settings(redis_url=redis_server.url)) as teambot:
            fake = FakeAdapter(teambot)
            await fake.upload("guide.md", DEPLOY_GUIDE, channel="ops")
            await redis_server.stop()
            during = (await fake.say(QUESTION, channel="ops")).reply
            assert during.answer_id and "8080" in during.text, "answered, with the id its buttons carry"
            await redis_server.start()
            # Not kept (Redis was down): a vote on it is counted, and nothing else happens.
            assert await teambot.commands.record_feedback(platform="fake", workspace="W1", user="bob",
                                                          answer_id=during.answer_id, helpful=False) is None
            after = (await fake.say(QUESTION, channel="ops", thread="t2")).reply
            assert await teambot.commands.record_feedback(platform="fake", workspace="W1", user="bob",
                                                          answer_id=after.answer_id, helpful=False) is not None
    finally:
        await redis_server.stop()


async def test_an_api_answer_is_rated_through_the_api_in_its_own_channel_only(
        make_settings: Callable[..., Settings]) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    here = {"workspace": "W1", "channel": "ops"}
    async with Teambot(make_settings(api_token=TOKEN)) as teambot, web_app_client(teambot) as client:
        uploaded = await client.post("/api/v1/documents", headers=auth, data=upload_form(("guide.md", DEPLOY_GUIDE),
                                                                                            **here))
        assert uploaded.status == 200
        answered = await client.post("/api/v1/ask", headers=auth, json={"question": QUESTION, **here})
        answer_id = (await answered.json())["answer_id"]
        streamed = await client.post("/api/v1/ask", headers=auth, json={"question": QUESTION, "stream": True, **here})
        final = (await streamed.text()).rsplit("event: reply\ndata: ", 1)[1]
        streamed_id = json.loads(final)["answer_id"]
        assert answer_id and streamed_id and answer_id != streamed_id, "each answer carries its own id"

        async def vote(answer: str, body: object, **where: str) -> aiohttp.ClientResponse:
            return await client.post(f"/api/v1/answers/{answer}/feedback", params=where or here, headers=auth,
                                     data=body if isinstance(body, bytes) else json.dumps(body).encode())

        async def error(response: aiohttp.ClientResponse, status: int) -> str:
            assert response.status == status, await response.text()
            [line] = (await response.json())["error"].splitlines()
            return line

        down = await vote(answer_id, {"vote": "down", "reason": "outdated", "user": "ci"})
        assert down.status == 200, await down.text()
        stored = await down.json()
        assert (stored["rating"], stored["reason"], stored["answer"]["id"]) == ("not_helpful", "outdated", answer_id)
        assert stored["voter"] == pseudonym("api", "ci") and stored["answer"]["question"] == QUESTION
        assert (await vote(streamed_id, {"vote": "up"})).status == 200

        # One vote per person: a second one (even the other way) changes nothing.
        assert "already rated" in await error(await vote(answer_id, {"vote": "up", "user": "ci"}), 409)

        # Another channel, workspace or platform sees no such answer, exactly as for one never given.
        unknown = await error(await vote("0" * 20, {"vote": "down"}), 404)
        for elsewhere in ({"workspace": "W1", "channel": "board"}, {"workspace": "W2", "channel": "ops"},
                          {**here, "platform": "slack"}):
            assert await error(await vote(answer_id, {"vote": "down"}, **elsewhere), 404) == unknown

        for malformed in (b"not json", b"[]", {}, {"vote": "sideways"}, {"vote": True},
                          {"vote": "up", "reason": "outdated"}, {"vote": "down", "reason": "rude"},
                          {"vote": "down", "comment": "x"}, {"vote": "down", "user": "a:b"}):
            await error(await vote(answer_id, malformed), 400)
        await error(await vote("a:b", {"vote": "down"}), 400)
        await error(await vote(answer_id, b'{"vote": "down", "user": "' + b"x" * 5000 + b'"}'), 413)
        await error(await client.post(f"/api/v1/answers/{answer_id}/feedback", params=here,
                                      json={"vote": "down"}), 401)

        listed = await client.get("/api/v1/feedback", headers=auth)
        assert sorted((v["answer"]["id"], v["rating"], v.get("reason")) for v in (await listed.json())["votes"]) \
            == sorted([(answer_id, "not_helpful", "outdated"), (streamed_id, "helpful", None)]), \
            "the two votes, as first stored; nothing refused left a trace"
        today = datetime.now(UTC).astimezone(teambot.usage.tz).date().isoformat()
        totals = await teambot.usage.day_totals(today)
        assert (totals.get("helpful"), totals.get("not_helpful")) == (1, 1), "each vote counted once"
