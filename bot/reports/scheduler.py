"""The scheduled report: APScheduler on the bot's event loop, once per period across replicas.

Every replica runs the same cron job. Before posting to a destination a
replica claims `teambot:reports:sent:<destination>:<period>` with
`SET NX EX`: only the first one posts. The claim is short while posting
(a replica that dies mid-post frees it soon) and becomes long once the post
succeeded, so it is also the record of "this period was sent". On start, the
last scheduled run is looked up: if its time is within the grace period and
its period was not sent, it is sent now (the bot was down at the time).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.exceptions import RedisError

from bot.core.values import Report
from bot.reports.aggregate import Audience, build_report
from bot.reports.cron import cron_trigger
from bot.reports.destinations import ReportChannel
from bot.reports.periods import Period, PeriodKind, last_complete
from bot.reports.render import render_chart, render_text
from bot.usage import RedisUsage

if TYPE_CHECKING:
    from bot.feedback import RedisFeedback

log = logging.getLogger(__name__)

KEY_PREFIX = "teambot:reports:"
POSTING_TTL_S = 10 * 60
"""How long a claim lasts while posting: a replica that dies mid-post blocks the period no longer than this."""
SENT_TTL_S = 400 * 24 * 3600
"""How long "sent" is remembered: longer than any period plus grace, so a period is never sent twice."""
JOB_ID = "teambot-usage-report"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ReportScheduler:
    """`async with ReportScheduler(...)`: schedules the report on the running loop; stops it on exit."""

    def __init__(self, *, redis: aioredis.Redis, usage: RedisUsage, destinations: Sequence[ReportChannel],
                 cron: str, tz: tzinfo, kind: PeriodKind, grace: timedelta,
                 clock: Callable[[], datetime] = _utc_now, feedback: RedisFeedback | None = None) -> None:
        self._redis = redis
        self._usage = usage
        self._feedback = feedback
        self.destinations = list(destinations)
        self.trigger = cron_trigger(cron, tz=tz)
        self.tz = tz
        self.kind = kind
        self.grace = grace
        self._clock = clock
        self._scheduler: AsyncIOScheduler | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> ReportScheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self, *, catch_up: bool = True) -> None:
        """Add the cron job to an AsyncIOScheduler on the running loop, then send a missed report if due."""
        scheduler = AsyncIOScheduler(timezone=self.tz)
        scheduler.add_job(
            self.run_scheduled, self.trigger, id=JOB_ID, name="usage report",
            # A run delayed by a busy loop still goes out; two due runs collapse into one.
            misfire_grace_time=max(1, int(self.grace.total_seconds())), coalesce=True, max_instances=1,
        )
        scheduler.start()
        self._scheduler = scheduler
        if catch_up:
            await self.catch_up()

    async def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            # wait=False: a report being posted is a task on this loop, cancelled with it.
            self._scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # shutdown is scheduled on the loop (call_soon_threadsafe); let it run
        self._scheduler = None

    @property
    def next_run(self) -> datetime | None:
        """When the job fires next (None when not started)."""
        if self._scheduler is None:
            return None
        job = self._scheduler.get_job(JOB_ID)
        return job.next_run_time if job else None

    # --- runs --------------------------------------------------------------------------------

    async def run_scheduled(self, *, at: datetime | None = None) -> list[str]:
        """The cron job: report the last complete period before `at` (default: now)."""
        return await self.send(last_complete(self.kind, at or self._clock(), self.tz))

    def last_fire_within_grace(self, now: datetime | None = None) -> datetime | None:
        """The latest scheduled time in `[now - grace, now]`, if any."""
        now = now or self._clock()
        earliest = now - self.grace
        fire = self.trigger.get_next_fire_time(None, earliest)
        latest = None
        while fire is not None and fire <= now:
            latest = fire
            fire = self.trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        return latest

    async def catch_up(self) -> list[str]:
        """Send the report of the last run if it was missed (not sent) and is still within the grace period."""
        fire = self.last_fire_within_grace()
        if fire is None:
            return []
        return await self.send(last_complete(self.kind, fire, self.tz))

    async def send(self, period: Period) -> list[str]:
        """Post `period`'s report to every destination not yet served; returns the names posted to."""
        # Each destination's readers see their own workspace only: one rendering per audience.
        rendered: dict[Audience, Report] = {}
        posted: list[str] = []
        for destination in self.destinations:
            key = f"{KEY_PREFIX}sent:{destination.name}:{period.key}"
            try:
                claimed = await self._redis.set(key, "posting", nx=True, ex=POSTING_TTL_S)
            except (RedisError, OSError):
                # Without the lock every replica could post: better to skip and let the next start catch up.
                log.warning("report lock unavailable; not posting", extra={"period": period.key})
                return posted
            if not claimed:
                continue  # another replica posted (or is posting) this period
            try:
                audience = await destination.audience()
                if audience not in rendered:
                    rendered[audience] = await self.render(period, audience=audience)
                await destination.post(rendered[audience])
            except Exception:  # one destination failing must not stop the others
                log.exception("posting the report failed", extra={"destination": destination.name})
                await self._redis.delete(key)  # free the period: the next start (within grace) retries
                continue
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(key, "sent", ex=SENT_TTL_S)
                pipe.set(f"{KEY_PREFIX}last_sent:{destination.name}", period.key, ex=SENT_TTL_S)
                await pipe.execute()
            posted.append(destination.name)
        return posted

    async def render(self, period: Period, *, audience: Audience) -> Report:
        """`period`'s report for `audience`: title, text and chart."""
        report = await build_report(self._usage, period, audience=audience, feedback=self._feedback)
        chart = await asyncio.to_thread(render_chart, report.current)  # CPU-bound drawing off the loop
        return Report(title=f"Usage report · {period.label}", text=render_text(report), chart_png=chart)
