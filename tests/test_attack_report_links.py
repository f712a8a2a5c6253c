"""Attack: a user's unanswered question is repeated in `/stats` and the scheduled report as Markdown,
not literally. The report text goes through `to_mrkdwn`, so a question written as a Markdown link
becomes a real Slack link with disguised text, posted by the bot to the report channel (and the
same text posted raw to Discord is a masked link there). README: "anything a user typed that the
bot repeats [is] shown literally ... `<mailto:…|payroll>` is no link".
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis.asyncio as aioredis

from adapters.slack.mrkdwn import to_mrkdwn
from bot.reports import render_text, stats_report
from bot.reports.aggregate import Audience
from bot.usage import QuestionRecord, RedisUsage

HOSTILE = "[Payroll portal: confirm your bank details](https://evil.example/login) **URGENT**"


async def test_a_question_shown_as_a_gap_is_no_link_in_slack(redis_url: str) -> None:
    now = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
    client = aioredis.from_url(redis_url)
    try:
        usage = RedisUsage(client)
        await usage.record_question(QuestionRecord(
            platform="slack", workspace="T1", channel="C1", user="U1", question=HOSTILE, answered=False,
            mode="llm", first_token_s=None, total_s=0.5, at=now, visibility="public"))
        audience = Audience(platform="slack", workspace="T1", channel="C1", public_channels=True)
        report = await stats_report(usage, kind="week", now=now, audience=audience)
    finally:
        await client.aclose()
    assert report.current.gaps, "the unanswered question is listed"
    shown = to_mrkdwn(render_text(report))  # what `/stats` and SlackReportDestination.post send
    assert "<https://evil.example/login|" not in shown, shown
