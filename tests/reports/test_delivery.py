"""The report posted through the loopback Slack and Discord fakes (image included), and `/stats` on both."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bot.redis_server import free_port
from bot.reports.destinations import DestinationChannel
from bot.reports.scheduler import ReportScheduler
from bot.serve import serve
from bot.settings import Settings
from bot.usage import QuestionRecord, RedisUsage
from tests.support.discord_bot import RunDiscord
from tests.support.fake_discord import CHANNEL_ID, GUILD_ID
from tests.support.fake_slack import BOT_TOKEN
from tests.support.report_fakes import FilesFakeDiscord, FilesFakeSlack
from tests.support.slack_bot import SlackHarness, running_slack, slack_settings

PNG = b"\x89PNG\r\n\x1a\n"
NOW = datetime(2025, 1, 13, 9, tzinfo=UTC)


async def seed(usage: RedisUsage, *, at: datetime) -> None:
    await usage.record_question(QuestionRecord(
        platform="slack", workspace="T1", channel="C1", user="U1", question="Where is the VPN guide?",
        answered=False, mode="llm", first_token_s=None, total_s=0.4, at=at, visibility="public"))
    await usage.record_question(QuestionRecord(
        platform="slack", workspace="T1", channel="C1", user="U2", question="Which port?", answered=True,
        mode="llm", first_token_s=0.3, total_s=1.1, cited_sources=("guide.md",), at=at, visibility="public"))


async def test_slack_report_is_uploaded_with_files_upload_v2(make_settings: Callable[..., Settings]) -> None:
    async with FilesFakeSlack() as fake:
        async with running_slack(slack_settings(make_settings, fake, None), fake) as harness:
            usage = harness.teambot.usage
            await seed(usage, at=NOW - timedelta(days=3))
            scheduler = ReportScheduler(
                redis=harness.teambot.redis, usage=usage, destinations=[DestinationChannel(harness.adapter, "CREP")],
                cron="0 9 * * 1", tz=UTC, kind="week", grace=timedelta(hours=1), clock=lambda: NOW)
            assert await scheduler.run_scheduled() == ["slack:CREP"]
    [get_url] = fake.of("files.getUploadURLExternal")
    assert get_url.params["filename"] == "usage-report.png" and get_url.params["_auth"] == f"Bearer {BOT_TOKEN}"
    [upload] = fake.uploads.values()
    assert upload["body"].startswith(PNG) and upload["length"] == len(upload["body"])
    [complete] = fake.of("files.completeUploadExternal")
    assert complete.params["channel_id"] == "CREP"
    assert json.loads(complete.params["files"])[0]["title"] == "Usage report · week 2, 06 Jan – 12 Jan 2025"
    comment = complete.params["initial_comment"]
    # Markdown became Slack mrkdwn: *bold*, not **bold**.
    assert comment.startswith("*Usage report · week 2") and "Questions *2* (+2)" in comment
    assert "`Where is the VPN guide?`" in comment


async def test_slack_stats_command_answers_ephemerally(slack: SlackHarness) -> None:
    await seed(slack.teambot.usage, at=datetime.now(UTC))
    status, _ = await slack.command("/stats", "day", channel="C1", user="U7")
    assert status == 200
    [answer] = await slack.fake.wait_for(lambda: slack.fake.of("chat.postEphemeral"))
    assert answer.params["channel"] == "C1" and answer.params["user"] == "U7"
    assert answer.params["text"].startswith("*Usage report · ") and "Questions *2*" in answer.params["text"]
    status, _ = await slack.command("/stats", "year", channel="C1", user="U7")
    usage_hint = await slack.fake.wait_for(lambda: slack.fake.of("chat.postEphemeral")[1:])
    assert "[day|week|month]" in usage_hint[0].params["text"]
    assert slack.fake.of("chat.postMessage") == []  # nothing visible to the channel


async def test_discord_report_is_a_message_with_the_chart_attached(make_settings: Callable[..., Settings],
                                                                    run_discord: RunDiscord) -> None:
    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID))
    async with run_discord(settings, fake=FilesFakeDiscord()) as env:
        discord, adapter, teambot = env.discord, env.adapter, env.teambot
        await seed(teambot.usage, at=NOW - timedelta(days=3))
        scheduler = ReportScheduler(
            redis=teambot.redis, usage=teambot.usage, tz=UTC, kind="week", cron="0 9 * * 1",
            destinations=[DestinationChannel(adapter, str(CHANNEL_ID))],
            grace=timedelta(hours=1), clock=lambda: NOW)
        assert await scheduler.run_scheduled() == [f"discord:{CHANNEL_ID}"]
        assert await scheduler.run_scheduled() == []

        [post] = discord.calls_to("POST", f"/channels/{CHANNEL_ID}/messages")
        assert post.json["content"].startswith("**Usage report · week 2")
        assert post.json["allowed_mentions"]["parse"] == []
        assert post.json["attachments"][0]["filename"] == "usage-report.png"
        [image] = discord.attachments
        assert image["filename"] == "usage-report.png" and image["data"].startswith(PNG)

        # `/stats` was synced with the adapter's commands and answers ephemerally.
        synced = discord.calls_to("PUT", rf"/applications/\d+/guilds/{GUILD_ID}/commands")[-1].json
        assert "stats" in {c["name"] for c in synced}
        interaction = await discord.slash("stats", [{"name": "period", "type": 3, "value": "week"}])
        callback = await discord.wait_for(lambda: discord.calls_to("POST", r"/interactions/\d+/[^/]+/callback"))
        assert callback[0].json["data"]["flags"] & 64  # ephemeral
        shown = await discord.wait_for(lambda: [c for c in discord.interaction_contents(interaction["token"]) if c])
        assert shown[0].startswith("**Usage report · ")


async def test_serve_sends_a_missed_report_on_start(make_settings: Callable[..., Settings]) -> None:
    """`teambot serve` starts the scheduler on its loop: a run due this minute (bot 'down' at that time) goes out."""
    async with FilesFakeSlack() as fake:
        settings = slack_settings(make_settings, fake, None, report_slack_channel="CREP", report_cron="* * * * *",
                                  report_period="day", report_grace_minutes=5, http_port=free_port())
        server = asyncio.create_task(serve(settings))
        try:
            [complete] = await fake.wait_for(lambda: fake.of("files.completeUploadExternal"), timeout=60)
            assert complete.params["channel_id"] == "CREP"
            assert complete.params["initial_comment"].startswith("*Usage report · ")
            assert next(iter(fake.uploads.values()))["body"].startswith(PNG)
            async with aiohttp.ClientSession() as session:  # the rest of serve is up too
                async with session.get(f"http://127.0.0.1:{settings.http_port}/healthz") as response:
                    assert response.status == 200
        finally:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)
        assert len(fake.of("files.completeUploadExternal")) == 1


def test_settings_refuse_a_report_channel_without_its_platform(make_settings: Callable[..., Settings]) -> None:
    from bot.settings import SettingsError

    with pytest.raises(SettingsError, match="^REPORT_SLACK_CHANNEL: needs SLACK_BOT_TOKEN"):
        make_settings(report_slack_channel="C1", slack_bot_token=None)
    with pytest.raises(SettingsError, match="^REPORT_CRON: not a cron expression"):
        make_settings(report_cron="every monday")
