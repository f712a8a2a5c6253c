"""Aggregation and rendering on real Redis with injected time, and `teambot stats` as a user runs it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from adapters.fake.adapter import FakeAdapter
from bot.app import Teambot
from bot.reports import build_report, current, last_complete, render_chart, render_text, stats_report
from bot.reports.periods import containing
from bot.usage import QuestionRecord, RedisUsage
from tests.support.cli import cli_env, run_cli
from tests.support.documents import DEPLOY_GUIDE

PARIS = ZoneInfo("Europe/Paris")
PNG = b"\x89PNG\r\n\x1a\n"


def question(text: str, *, at: datetime, user: str = "alice", channel: str = "C1", answered: bool = True,
             first: float | None = 0.5, total: float = 1.0, tokens: tuple[int, int] = (0, 0),
             cited: tuple[str, ...] = (), error: str | None = None) -> QuestionRecord:
    return QuestionRecord(platform="slack", workspace="T1", channel=channel, user=user, question=text,
                          answered=answered, mode="llm", first_token_s=first, total_s=total,
                          input_tokens=tokens[0], output_tokens=tokens[1], cited_sources=cited,
                          error_kind=error, at=at)


def test_periods_are_calendar_periods_in_the_report_time_zone() -> None:
    # Sunday 23:30 UTC is already Monday in Paris.
    now = datetime(2025, 1, 12, 23, 30, tzinfo=UTC)
    assert current("week", now, PARIS).start == date(2025, 1, 13)
    assert current("week", now, UTC).start == date(2025, 1, 6)
    week = last_complete("week", now, PARIS)
    assert (week.start, week.end, week.key) == (date(2025, 1, 6), date(2025, 1, 13), "week:2025-01-06")
    assert week.previous().start == date(2024, 12, 30)
    assert containing("month", date(2024, 12, 31)).previous().start == date(2024, 11, 1)
    assert containing("month", date(2025, 2, 10)).end == date(2025, 3, 1)
    assert last_complete("day", now, PARIS).start == date(2025, 1, 12)


async def test_empty_period_reports_zeros(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        usage = RedisUsage(client)
        report = await stats_report(usage, kind="month", now=datetime(2025, 2, 10, tzinfo=UTC))
    finally:
        await client.aclose()
    now = report.current
    assert (now.questions, now.distinct_users, now.active_channels, now.helpful, now.uploaded_documents) == (0,) * 5
    assert now.total_p50_s is None and now.cost is None and now.gaps == [] and len(now.per_day) == 28
    text = render_text(report)
    assert "Questions **0** (±0)" in text and "No questions or uploads in this period." in text
    assert render_chart(now).startswith(PNG)
    assert json.loads(json.dumps(report.to_dict()))["current"]["questions"] == 0


async def test_week_against_previous_week_with_costs_latency_and_gaps(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    usage = RedisUsage(client, tz=PARIS, price_per_1k_input=0.5, price_per_1k_output=1.5)
    try:
        monday = datetime(2025, 1, 6, 10, tzinfo=PARIS)
        for i in range(4):
            await usage.record_question(question(f"q{i}", at=monday.replace(day=6 + i), user=f"u{i % 3}",
                                                 total=float(i + 1), first=0.1 * (i + 1), tokens=(1000, 200),
                                                 cited=("guide.md",) if i else ("faq.md", "guide.md")))
        await usage.record_question(question("How do I   rotate the VPN keys?", at=monday, answered=False,
                                             channel="C2", first=None, total=0.2))
        await usage.record_question(question("boom", at=monday, answered=False, error="model_timeout"))
        # 23:30 UTC on Sunday 12th is Monday 13th in Paris: next week, not this one.
        await usage.record_question(question("late", at=datetime(2025, 1, 12, 23, 30, tzinfo=UTC)))
        await usage.record_question(question("last week", at=datetime(2025, 1, 1, 12, tzinfo=PARIS)))
        await usage.record_feedback(platform="slack", helpful=True, at=monday)
        await usage.record_feedback(platform="discord", helpful=False, at=monday)
        await usage.record_upload(platform="slack", channel="C1", documents=2, chunks=30, failures=1, at=monday)

        report = await build_report(usage, last_complete("week", datetime(2025, 1, 13, 9, tzinfo=PARIS), PARIS))
    finally:
        await client.aclose()
    now, before = report.current, report.previous
    assert (now.questions, now.answered, now.unanswered, now.errors) == (6, 4, 1, 1)
    assert (now.distinct_users, now.active_channels, before.questions) == (4, 2, 1)  # u0-u2 and alice
    assert (now.helpful, now.not_helpful) == (1, 1)
    assert (now.uploads, now.uploaded_documents, now.uploaded_chunks, now.upload_failures) == (1, 2, 30, 1)
    assert (now.input_tokens, now.output_tokens) == (4000, 800)
    assert now.cost == 3.2  # 4 x (1000 in at 0.5/1k + 200 out at 1.5/1k)
    # The unanswered question streamed nothing: it has no first-token time and is left out of those.
    assert now.total_p50_s == 1.5 and now.first_token_p50_s == pytest.approx(0.3)
    assert now.top_channels == [("slack #C1", 5), ("slack #C2", 1)]
    assert now.top_documents == [("guide.md", 4), ("faq.md", 1)]
    assert now.gaps == ["How do I rotate the VPN keys?"] and now.errors_by_kind == {"model_timeout": 1}
    assert [d.questions for d in now.per_day] == [3, 1, 1, 1, 0, 0, 0]

    text = render_text(report)
    assert text.startswith("**Usage report · week 2, 06 Jan – 12 Jan 2025**")
    assert "Questions **6** (+5)" in text and "don't know **1** (17%, before 0%)" in text
    assert "estimated cost **$3.20** (+$3.20)" in text and "`model_timeout` 1" in text
    assert "- `How do I rotate the VPN keys?`" in text and "- `guide.md`: 4" in text
    assert render_chart(now).startswith(PNG)


async def test_stats_json_counts_questions_uploads_and_feedback(teambot: Teambot, tmp_path: Path,
                                                               redis_url: str) -> None:
    fake = FakeAdapter(teambot)
    [ok] = await fake.upload("guide.md", DEPLOY_GUIDE, channel="ops")
    [bad] = await fake.upload("broken.pdf", b"not a pdf", channel="ops")
    assert ok.error is None and bad.error is not None
    replies = [
        await fake.say("What is the default port of the web console?", channel="ops", user="alice"),
        await fake.say("Which default port does the web console use?", channel="ops", user="bob", thread="t2"),
        await fake.say("Who maintains the payroll spreadsheet?", channel="random", user="alice", thread="t3"),
    ]
    assert [r.reply.answered for r in replies] == [True, True, False]
    # What the Slack and Discord adapters call on a feedback click.
    await teambot.usage.record_feedback(platform="slack", helpful=True)
    await teambot.usage.record_feedback(platform="discord", helpful=True)
    await teambot.usage.record_feedback(platform="slack", helpful=False)

    env = cli_env(tmp_path, REDIS_URL=redis_url)
    code, out, err = await run_cli("stats", "--period", "month", "--json", env=env, cwd=tmp_path)
    assert code == 0, err
    # The local operator sees everything, and is told so.
    assert json.loads(out)["scope"] == "Figures and names: all workspaces and platforms (local operator view)."
    now = json.loads(out)["current"]
    assert (now["questions"], now["answered"], now["unanswered"], now["errors"]) == (3, 2, 1, 0)
    assert (now["distinct_users"], now["active_channels"]) == (2, 2)
    assert (now["helpful"], now["not_helpful"]) == (2, 1)
    assert (now["uploads"], now["uploaded_documents"], now["upload_failures"]) == (2, 1, 1)
    assert ok.result is not None and now["uploaded_chunks"] == ok.result.document.chunk_count > 0
    assert now["top_documents"] == [{"document": "guide.md", "citations": 2}]
    assert now["gaps"] == ["Who maintains the payroll spreadsheet?"]
    assert now["total_p50_s"] is not None and now["cost"] is None

    code, out, err = await run_cli("stats", env=cli_env(tmp_path, REDIS_URL="redis://127.0.0.1:9/0"), cwd=tmp_path)
    assert code == 1 and err.startswith("teambot: error:") and len(err.strip().splitlines()) == 1
