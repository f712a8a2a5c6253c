"""`/stats` as the command service answers it (every platform renders this one answer), and the wiring of
the scheduled report through the `ReportDestination` port alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import redis.asyncio as aioredis

from adapters.base import ReportsUnsupported
from adapters.discord.translate import DM_WORKSPACE, Where, incoming_message
from adapters.fake.adapter import FakeAdapter
from bot.app import Teambot
from bot.commands import Commands
from bot.core.values import IncomingMessage, Report
from bot.feedback import RedisFeedback
from bot.reports.stats import UsageStats
from bot.reports.wiring import attach_reports
from bot.settings import Settings
from bot.usage import QuestionRecord, RedisUsage

MINE, THEIRS, SERVER = "Where did I leave my DM notes?", "Who else asks the bot in private?", "Which guild rota?"


def discord_dm(channel: str) -> IncomingMessage:
    """A Discord DM as `adapters.discord.translate` makes it: in the shared DM workspace, which is no real one."""
    return IncomingMessage(platform="discord", workspace=DM_WORKSPACE, channel=channel, thread=channel, user="U1",
                           text="", is_dm=True, workspace_is_real=False)


async def test_stats_in_a_discord_dm_covers_only_that_conversation(teambot: Teambot) -> None:
    now = datetime.now(UTC)
    for workspace, channel, text in [(DM_WORKSPACE, "D7", MINE), (DM_WORKSPACE, "D8", THEIRS),
                                     ("G1", "C1", SERVER)]:
        await teambot.usage.record_question(QuestionRecord(
            platform="discord", workspace=workspace, channel=channel, user="U1", question=text, answered=False,
            mode="none", first_token_s=None, total_s=0.1, at=now, visibility="private"))

    answer = await teambot.commands.stats(discord_dm("D7"), "week")

    assert answer.report is not None and answer.report.current.questions == 1
    shown = answer.markdown
    assert MINE in shown and "this conversation (#D7) only" in shown
    assert THEIRS not in shown and "D8" not in shown and SERVER not in shown  # other people's DMs: not even counted


def test_discord_marks_only_its_dms_as_in_no_real_workspace() -> None:
    author = SimpleNamespace(id=42)
    message = SimpleNamespace(author=author, content="hello", id=5, channel=None)
    in_dm = incoming_message(message, Where("answer_here", workspace=DM_WORKSPACE, channel="D7", thread="D7",
                                            is_dm=True), bot_user_id=1)
    in_server = incoming_message(message, Where("answer_here", workspace="G1", channel="C1", thread="T1"),
                                 bot_user_id=1)
    assert (in_dm.workspace_is_real, in_server.workspace_is_real) == (False, True)


async def test_stats_tells_how_to_use_it_and_why_it_failed(teambot: Teambot) -> None:
    asker = IncomingMessage(platform="slack", workspace="T1", channel="C1", thread="stats", user="U1", text="")
    hint = await teambot.commands.stats(asker, "year")
    assert hint.report is None and hint.markdown.startswith("Usage: `/stats [day|week|month]`")

    unreachable = aioredis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=2)
    try:
        broken = Commands(knowledge=teambot.knowledge, usage=None, permissions=teambot.permissions,
                          dispatcher=teambot.dispatcher, usage_stats=UsageStats(RedisUsage(unreachable)))
        failed = await broken.stats(asker, "week")
    finally:
        await unreachable.aclose()
    # One line the asker can read, instead of an exception the platform would leave unanswered.
    assert failed.report is None and failed.markdown.startswith("Sorry, I couldn't read the usage statistics: ")
    assert len(failed.markdown.splitlines()) == 1


@dataclass
class PostedReports:
    """A `ReportDestination` that keeps what it is given."""

    platform: str
    workspace: str = "T1"
    posts: list[tuple[str, Report]] = field(default_factory=list)

    async def channel_workspace(self, channel: str) -> str:
        return self.workspace

    async def post_report(self, *, channel: str, report: Report) -> None:
        self.posts.append((channel, report))


async def test_the_scheduled_report_goes_to_each_platforms_configured_channel(
        make_settings: Callable[..., Settings], redis_url: str) -> None:
    settings = make_settings(slack_bot_token="xoxb-test", slack_signing_secret="secret", report_slack_channel="CREP")
    client = aioredis.from_url(redis_url)
    try:
        core = SimpleNamespace(settings=settings, redis=client, usage=RedisUsage(client),
                               feedback=RedisFeedback(client))
        slack, discord = PostedReports("slack"), PostedReports("discord")
        fake = FakeAdapter(core)  # only its report contract is used
        scheduler = attach_reports(core, [slack, discord, fake])
        assert scheduler is not None and [d.name for d in scheduler.destinations] == ["slack:CREP"]
        [target] = scheduler.destinations
        audience = await target.audience()
        assert (audience.platform, audience.workspace, audience.channel, audience.public_channels) == (
            "slack", "T1", "CREP", True)
        report = Report(title="Usage report", text="**hi**", chart_png=b"\x89PNG")
        await target.post(report)
        assert slack.posts == [("CREP", report)] and discord.posts == []
        with pytest.raises(ReportsUnsupported):  # a platform without report channels refuses plainly
            await fake.post_report(channel="general", report=report)
        assert attach_reports(SimpleNamespace(settings=make_settings(), redis=client, usage=RedisUsage(client)),
                              [slack, discord]) is None
    finally:
        await client.aclose()
