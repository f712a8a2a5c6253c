"""The scheduled report: once per period across replicas, missed runs within grace, on the running loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from bot.reports.scheduler import ReportScheduler
from bot.usage import QuestionRecord, RedisUsage
from tests.support.report_fakes import MemoryDestination

PARIS = ZoneInfo("Europe/Paris")
MONDAY_9 = datetime(2025, 1, 13, 9, 0, tzinfo=PARIS)
"""A Monday at 9:00 in Paris: when `0 9 * * 1` fires; the report covers 6-12 January."""


class Clock:
    """Injected time: tests move it, nothing sleeps."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.from_url(redis_url)
    yield redis
    await redis.aclose()


def replica(client: aioredis.Redis, destination: MemoryDestination, clock: Clock, *,
            grace: timedelta = timedelta(hours=2)) -> ReportScheduler:
    """One bot replica's scheduler; every replica posts to the same channel through the same Redis."""
    return ReportScheduler(redis=client, usage=RedisUsage(client, tz=PARIS, clock=clock), destinations=[destination],
                           cron="0 9 * * 1", tz=PARIS, kind="week", grace=grace, clock=clock)


async def test_two_replicas_send_one_report_per_period(client: aioredis.Redis) -> None:
    usage = RedisUsage(client, tz=PARIS)
    await usage.record_question(QuestionRecord(
        platform="slack", workspace="T1", channel="C1", user="U1", question="q", answered=True, mode="llm",
        first_token_s=0.3, total_s=1.0, at=datetime(2025, 1, 8, 12, tzinfo=PARIS)))
    channel = MemoryDestination(name="slack:CREPORTS")
    clock = Clock(MONDAY_9)
    first, second = replica(client, channel, clock), replica(client, channel, clock)

    results = await asyncio.gather(first.run_scheduled(), second.run_scheduled())
    assert sorted(results, key=len) == [[], ["slack:CREPORTS"]]
    [(text, chart, title)] = channel.posts
    assert title == "Usage report · week 2, 06 Jan – 12 Jan 2025"
    assert "Questions **1** (+1)" in text and chart.startswith(b"\x89PNG")
    # The same period again (a late duplicate fire, a restart): nothing more.
    assert await first.run_scheduled() == [] and await second.run_scheduled() == []
    assert await client.get("teambot:reports:last_sent:slack:CREPORTS") == b"week:2025-01-06"

    clock.now = MONDAY_9 + timedelta(days=7)
    await asyncio.gather(first.run_scheduled(), second.run_scheduled())
    assert [p[2] for p in channel.posts][1] == "Usage report · week 3, 13 Jan – 19 Jan 2025"
    assert len(channel.posts) == 2


async def test_missed_run_is_sent_once_on_start_within_grace(client: aioredis.Redis) -> None:
    channel = MemoryDestination()
    clock = Clock(MONDAY_9 + timedelta(minutes=90))  # the bot was down at 9:00 and is back at 10:30
    first, second = replica(client, channel, clock), replica(client, channel, clock)
    try:
        await first.start()
        await second.start()  # a second replica starting later does not send it again
        assert [p[2] for p in channel.posts] == ["Usage report · week 2, 06 Jan – 12 Jan 2025"]
        # A restart of either replica does not send it again either.
        await first.stop()
        await first.start()
        assert len(channel.posts) == 1
    finally:
        await first.stop()
        await second.stop()


async def test_missed_run_outside_grace_is_not_sent(client: aioredis.Redis) -> None:
    channel = MemoryDestination()
    scheduler = replica(client, channel, Clock(MONDAY_9 + timedelta(hours=2, minutes=1)))
    assert scheduler.last_fire_within_grace() is None
    async with scheduler:
        pass
    assert channel.posts == []
    assert await client.keys("teambot:reports:*") == []


async def test_failed_post_frees_the_period_for_a_retry(client: aioredis.Redis) -> None:
    channel = MemoryDestination(fail=True)
    clock = Clock(MONDAY_9)
    scheduler = replica(client, channel, clock)
    assert await scheduler.run_scheduled() == []
    assert await client.keys("teambot:reports:sent:*") == []
    channel.fail = False
    clock.now = MONDAY_9 + timedelta(minutes=30)
    assert await scheduler.catch_up() == ["memory:reports"]
    assert len(channel.posts) == 1


async def test_empty_period_is_reported_with_zeros(client: aioredis.Redis) -> None:
    channel = MemoryDestination()
    assert await replica(client, channel, Clock(MONDAY_9)).run_scheduled() == ["memory:reports"]
    [(text, chart, _)] = channel.posts
    assert "Questions **0** (±0)" in text and "No questions or uploads in this period." in text
    assert chart.startswith(b"\x89PNG")


async def test_cron_job_runs_on_the_running_loop_in_the_report_time_zone(client: aioredis.Redis) -> None:
    scheduler = replica(client, MemoryDestination(), Clock(datetime.now(UTC)))
    assert scheduler.next_run is None
    await scheduler.start(catch_up=False)
    try:
        assert scheduler._scheduler is not None and scheduler._scheduler._eventloop is asyncio.get_running_loop()
        next_run = scheduler.next_run
        assert next_run is not None and next_run.tzinfo is not None
        local = next_run.astimezone(PARIS)
        assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)
        assert next_run > datetime.now(UTC)
    finally:
        await scheduler.stop()
    assert scheduler.next_run is None


def test_report_cron_counts_weekdays_like_cron() -> None:
    from bot.reports.cron import cron_trigger

    start = datetime(2025, 1, 12, 0, 0, tzinfo=PARIS)  # a Sunday
    for expression, weekday in [("0 9 * * 1", 0), ("0 9 * * 0", 6), ("0 9 * * 7", 6), ("0 9 * * 5", 4)]:
        fire = cron_trigger(expression, tz=PARIS).get_next_fire_time(None, start + timedelta(hours=10))
        assert fire is not None and fire.weekday() == weekday, expression
    with pytest.raises(ValueError):
        cron_trigger("0 9 * *", tz=PARIS)
