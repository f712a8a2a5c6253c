"""Usage statistics never cross scopes: questions asked in two Slack workspaces and on Discord,
then `/stats` from each (through the real Bolt app and discord.py against the loopback fakes) and the
scheduled report, which names private channels' questions and documents only as counts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import redis.asyncio as aioredis

from bot.core.values import Scope
from bot.reports import build_report, render_text, stats_report
from bot.reports.aggregate import Audience
from bot.reports.destinations import DestinationChannel
from bot.reports.periods import Period
from bot.reports.scheduler import ReportScheduler
from bot.settings import Settings
from bot.usage import RedisUsage
from tests.support.discord_bot import RunDiscord
from tests.support.documents import DEPLOY_GUIDE
from tests.support.fake_discord import CHANNEL_ID, GUILD_ID
from tests.support.openai_server import FakeOpenAI
from tests.support.report_fakes import FilesFakeDiscord, FilesFakeSlack
from tests.support.slack_bot import SlackHarness, payload, running_slack, slack_settings

ANSWERED = "What is the default port of the web console?"
"""Asked where a guide was uploaded: answered, citing that scope's document."""

# Each scope's own unanswered question (shown as a gap) and its own document, to look for everywhere else.
T1_PUBLIC_GAP = "Who signs the alpha vendor contract?"
T1_OTHER_PUBLIC_GAP = "Which echo team runs the lunch rota?"
T1_PRIVATE_GAP = "When is the bravo reorganisation announced?"
T2_GAP = "Where is the charlie incident postmortem?"
DISCORD_GAP = "Who owns the delta guild treasury?"
T1_PUBLIC_DOC, T1_PRIVATE_DOC, T2_DOC = "alpha-handbook.md", "bravo-board-minutes.md", "charlie-runbook.md"
SLACK_CHANNELS = {"C1": {"id": "C1", "is_channel": True, "is_private": False},
                  "CPRIV": {"id": "CPRIV", "is_channel": True, "is_private": True},
                  "C3": {"id": "C3", "is_channel": True, "is_private": False},
                  "C2": {"id": "C2", "is_channel": True, "is_private": False}}


def mention(*, team: str, channel: str, text: str, number: int) -> dict[str, Any]:
    """An `app_mention` envelope from workspace `team` (as an org-wide install receives them)."""
    body = payload("app_mention")
    body.update(team_id=team, event_id=f"EvScope{number}",
                authorizations=[{**body["authorizations"][0], "team_id": team}])
    body["event"].update(team=team, channel=channel, text=f"<@UBOT> {text}", ts=f"1700001{number:03d}.000100",
                         event_ts=f"1700001{number:03d}.000100")
    return body


async def slash_stats(slack: SlackHarness, *, team: str, channel: str, user: str) -> str:
    """`/stats week` from `channel` of workspace `team`; the ephemeral answer's text."""
    form = payload("slash_command_ask")
    form.update(command="/stats", text="week", team_id=team, channel_id=channel, user_id=user,
                trigger_id=f"trigger-{team}-{channel}-{user}")
    before = len(slack.fake.of("chat.postEphemeral"))
    status, _ = await slack.post(urlencode(form), content_type="application/x-www-form-urlencoded")
    assert status == 200
    answers = await slack.fake.wait_for(lambda: slack.fake.of("chat.postEphemeral")[before:])
    assert answers[0].params["channel"] == channel and answers[0].params["user"] == user
    return str(answers[0].params["text"])


async def recorded_questions(redis_url: str) -> int:
    """Questions recorded so far (all days): the answers are recorded just after they are shown."""
    client = aioredis.from_url(redis_url)
    try:
        keys = [k for k in await client.keys("teambot:usage:*:totals") if b":scope:" not in k
                and b":workspace:" not in k]
        return sum([int(await client.hget(k, "questions") or 0) for k in keys])
    finally:
        await client.aclose()


async def wait_recorded(redis_url: str, count: int) -> None:
    for _ in range(750):
        if await recorded_questions(redis_url) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"only {await recorded_questions(redis_url)} of {count} questions were recorded")


async def ask_in_slack(slack: SlackHarness, redis_url: str) -> None:
    """Two questions in T1's public C1, one in its public C3, two in its private CPRIV, two in T2's public C2."""
    knowledge = slack.teambot.knowledge
    await knowledge.ingest(name=T1_PUBLIC_DOC, data=DEPLOY_GUIDE, scope=Scope("slack", "T1", "C1"), uploader="U1")
    await knowledge.ingest(name=T1_PRIVATE_DOC, data=DEPLOY_GUIDE, scope=Scope("slack", "T1", "CPRIV"), uploader="U1")
    await knowledge.ingest(name=T2_DOC, data=DEPLOY_GUIDE, scope=Scope("slack", "T2", "C2"), uploader="U9")
    asked = [("T1", "C1", ANSWERED), ("T1", "C1", T1_PUBLIC_GAP), ("T1", "C3", T1_OTHER_PUBLIC_GAP),
             ("T1", "CPRIV", ANSWERED),
             ("T1", "CPRIV", T1_PRIVATE_GAP), ("T2", "C2", ANSWERED), ("T2", "C2", T2_GAP)]
    for number, (team, channel, text) in enumerate(asked, start=1):
        status, _ = await slack.event(mention(team=team, channel=channel, text=text, number=number))
        assert status == 200
        await wait_recorded(redis_url, number)




async def discord_stats(discord: FilesFakeDiscord) -> str:
    interaction = await discord.slash("stats", [{"name": "period", "type": 3, "value": "week"}])
    shown = await discord.wait_for(lambda: [c for c in discord.interaction_contents(interaction["token"]) if c])
    return "\n".join(shown)


def assert_absent(text: str, *foreign: str) -> None:
    leaked = [item for item in foreign if item in text]
    assert not leaked, f"foreign items shown: {leaked}\n{text}"


async def test_stats_from_each_workspace_and_discord_shows_only_its_own(
        make_settings: Callable[..., Settings], openai_server: FakeOpenAI, redis_url: str,
        run_discord: RunDiscord) -> None:
    openai_server.reply = "The web console listens on port 8080 [1]."
    async with FilesFakeSlack() as fake:
        fake.channels.update(SLACK_CHANNELS)
        settings = slack_settings(make_settings, fake, openai_server, admins="slack:UADMIN")
        async with running_slack(settings, fake) as slack:
            await ask_in_slack(slack, redis_url)

            # Discord with its own data directory and the same Redis.
            discord_settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID),
                                             data_dir=settings.data_dir.parent / "discord-data")
            async with run_discord(discord_settings, fake=FilesFakeDiscord()) as env:
                discord = env.discord
                ask = await discord.slash("ask", [{"name": "question", "type": 3, "value": DISCORD_GAP}])
                await discord.wait_for(lambda: [c for c in discord.interaction_contents(ask["token"]) if c])
                await wait_recorded(redis_url, 8)
                from_discord = await discord_stats(discord)

            # Each channel's visibility was asked once (then remembered), not once per question.
            assert sorted(c.params["channel"] for c in fake.of("conversations.info")) == ["C1", "C2", "C3", "CPRIV"]
            t2 = await slash_stats(slack, team="T2", channel="C2", user="U9")
            t1_member = await slash_stats(slack, team="T1", channel="C1", user="U1")
            t1_admin = await slash_stats(slack, team="T1", channel="C1", user="UADMIN")
            t1_private = await slash_stats(slack, team="T1", channel="CPRIV", user="U1")

    # Workspace T2 sees its own channel, and nothing of T1 or Discord: no text, document or channel id.
    assert T2_GAP in t2 and T2_DOC in t2 and "#C2" in t2
    assert_absent(t2, T1_PUBLIC_GAP, T1_PRIVATE_GAP, DISCORD_GAP, T1_PUBLIC_DOC, T1_PRIVATE_DOC,
                  "#C1", "CPRIV", str(CHANNEL_ID), "discord")
    assert "Questions *2*" in t2  # its own workspace's count only

    # A member in T1's C1: that channel's items; the private channel and the rest only as counts.
    assert T1_PUBLIC_GAP in t1_member and T1_PUBLIC_DOC in t1_member
    assert_absent(t1_member, T1_PRIVATE_GAP, T1_PRIVATE_DOC, "CPRIV", T1_OTHER_PUBLIC_GAP, "#C3",
                  T2_GAP, T2_DOC, "#C2", DISCORD_GAP, str(CHANNEL_ID), "discord")
    assert "Questions *5*" in t1_member and "Not named here: 3 questions" in t1_member

    # An admin gets the workspace's public channels, still not the private channel's items nor T2's.
    assert T1_PUBLIC_GAP in t1_admin and T1_OTHER_PUBLIC_GAP in t1_admin and "#C3" in t1_admin
    assert_absent(t1_admin, T1_PRIVATE_GAP, T1_PRIVATE_DOC, "CPRIV", T2_GAP, T2_DOC, DISCORD_GAP)

    # Asked inside the private channel, its own items are shown to its member.
    assert T1_PRIVATE_GAP in t1_private and T1_PRIVATE_DOC in t1_private
    assert_absent(t1_private, T2_GAP, T2_DOC, DISCORD_GAP, T1_PUBLIC_GAP, T1_OTHER_PUBLIC_GAP)

    # Discord's server sees its own question and nothing from Slack.
    assert DISCORD_GAP in from_discord and "Questions **1**" in from_discord
    assert_absent(from_discord, T1_PUBLIC_GAP, T1_PRIVATE_GAP, T2_GAP, T1_PUBLIC_DOC, T1_PRIVATE_DOC, T2_DOC,
                  "#C1", "#C2", "CPRIV", "slack")


async def test_scheduled_report_names_private_channels_only_as_counts(
        make_settings: Callable[..., Settings], openai_server: FakeOpenAI, redis_url: str) -> None:
    openai_server.reply = "The web console listens on port 8080 [1]."
    async with FilesFakeSlack() as fake:
        fake.channels.update(SLACK_CHANNELS)
        async with running_slack(slack_settings(make_settings, fake, openai_server), fake) as slack:
            await ask_in_slack(slack, redis_url)
            today = datetime.now(slack.teambot.usage.tz).date()
            # Every bucket the questions may have landed in, whatever the time of day the test runs.
            period = Period("week", today - timedelta(days=7), today + timedelta(days=2))
            scheduler = ReportScheduler(
                redis=slack.teambot.redis, usage=slack.teambot.usage, cron="0 9 * * 1", tz=UTC,
                kind="week", grace=timedelta(hours=1),
                destinations=[DestinationChannel(slack.adapter, "CREP")])
            assert await scheduler.send(period) == ["slack:CREP"]
    [complete] = fake.of("files.completeUploadExternal")
    report = complete.params["initial_comment"]
    # The report channel is in T1 (auth.test): T1's public channel is named, its private one counted.
    assert T1_PUBLIC_GAP in report and T1_PUBLIC_DOC in report and "#C1" in report
    assert T1_OTHER_PUBLIC_GAP in report and "#C3" in report
    assert "Questions *5*" in report and "Not named here: 2 questions (1 not answered, 1 citations)" in report
    assert_absent(report, T1_PRIVATE_GAP, T1_PRIVATE_DOC, "CPRIV", T2_GAP, T2_DOC, "#C2")


async def test_old_format_day_buckets_are_read_without_crashing(redis_url: str) -> None:
    """Days stored before usage was kept per channel: the operator's view counts them; scoped views skip them."""
    client = aioredis.from_url(redis_url)
    try:
        usage = RedisUsage(client)
        prefix = "teambot:usage:2025-01-08"
        await client.hset(f"{prefix}:totals", mapping={"questions": 3, "answered": 2, "unanswered": 1})
        await client.hset(f"{prefix}:channels", mapping={"slack:T1:C1": 3})
        await client.hset(f"{prefix}:cited", mapping={"old-guide.md": 2})
        await client.rpush(f"{prefix}:latency", json.dumps([0.2, 1.0]), "not json", json.dumps([None, 2.0]))
        await client.rpush(f"{prefix}:gaps", "An old unanswered question")
        await client.pfadd(f"{prefix}:users", "someone")
        await client.hset(f"{prefix}:scopes", mapping={"not json": 1, json.dumps([1, 2]): 1})  # garbage too
        now = datetime(2025, 1, 9, 12, tzinfo=UTC)
        everything = await stats_report(usage, kind="week", now=now)
        scoped = await stats_report(usage, kind="week", now=now,
                                    audience=Audience(platform="slack", workspace="T1", channel="C1"))
    finally:
        await client.aclose()
    assert everything.current.questions == 3 and everything.current.gaps == ["An old unanswered question"]
    assert everything.current.total_p50_s == 1.5
    assert "all workspaces and platforms" in render_text(everything)
    assert scoped.current.questions == 0 and scoped.current.gaps == [] and scoped.current.top_documents == []
    assert "old-guide.md" not in render_text(scoped)


async def test_report_for_one_workspace_reads_nothing_of_another(redis_url: str) -> None:
    """Direct check of the aggregation: figures and names of T1 never reach T2's report, even as counts."""
    from bot.usage import QuestionRecord

    client = aioredis.from_url(redis_url)
    at = datetime(2025, 1, 8, 12, tzinfo=UTC)
    try:
        usage = RedisUsage(client)
        for workspace, channel, text in [("T1", "C1", "t1 question"), ("T2", "C2", "t2 question")]:
            await usage.record_question(QuestionRecord(
                platform="slack", workspace=workspace, channel=channel, user="U1", question=text, answered=False,
                mode="llm", first_token_s=None, total_s=1.0, at=at, visibility="public"))
        await usage.record_upload(platform="slack", workspace="T1", channel="C1", documents=4, chunks=9,
                                  failures=0, at=at)
        report = await build_report(usage, Period("day", at.date(), at.date() + timedelta(days=1)),
                                    audience=Audience(platform="slack", workspace="T2", channel="CREP",
                                                      public_channels=True))
    finally:
        await client.aclose()
    now = report.current
    assert (now.questions, now.active_channels, now.distinct_users, now.uploaded_documents) == (1, 1, 1, 0)
    assert now.gaps == ["t2 question"] and now.top_channels == [("slack #C2", 1)]


PRIVATE_CHANNEL_ID = 160000000000000099
DISCORD_PUBLIC_GAP = "Who books the foxtrot offsite?"
DISCORD_PRIVATE_GAP = "What is the golf acquisition price?"
VIEW_CHANNEL = 1 << 10
ADMINISTRATOR = 1 << 3


class PrivateChannelFakeDiscord(FilesFakeDiscord):
    """The fake server with a second channel that @everyone may not view (a private channel)."""

    def guild(self) -> dict[str, Any]:
        guild = super().guild()
        everyone = next(role for role in guild["roles"] if role["id"] == str(GUILD_ID))
        everyone["permissions"] = str(((1 << 50) - 1) & ~ADMINISTRATOR)  # administrators see every channel
        guild["channels"].append({
            "id": str(PRIVATE_CHANNEL_ID), "type": 0, "name": "board", "guild_id": str(GUILD_ID), "position": 1,
            "nsfw": False, "topic": None, "parent_id": None, "rate_limit_per_user": 0,
            "permission_overwrites": [{"id": str(GUILD_ID), "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)}],
        })
        return guild


async def test_discord_report_names_a_private_channel_only_as_counts(
        make_settings: Callable[..., Settings], redis_url: str, run_discord: RunDiscord) -> None:
    from adapters.discord.translate import channel_visibility

    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID))
    async with run_discord(settings, fake=PrivateChannelFakeDiscord()) as env:
        discord, adapter, teambot = env.discord, env.adapter, env.teambot
        assert adapter.client is not None
        assert channel_visibility(adapter.client.get_channel(CHANNEL_ID)) == "public"
        assert channel_visibility(adapter.client.get_channel(PRIVATE_CHANNEL_ID)) == "private"
        for number, (channel, text) in enumerate(
                [(CHANNEL_ID, DISCORD_PUBLIC_GAP), (PRIVATE_CHANNEL_ID, DISCORD_PRIVATE_GAP)], start=1):
            ask = await discord.slash("ask", [{"name": "question", "type": 3, "value": text}],
                                      channel_id=channel)
            await discord.wait_for(lambda token=ask["token"]: [c for c in discord.interaction_contents(token) if c])
            await wait_recorded(redis_url, number)
        stats = await discord.slash("stats", [{"name": "period", "type": 3, "value": "week"}],
                                    channel_id=PRIVATE_CHANNEL_ID)
        in_private = "\n".join(await discord.wait_for(
            lambda: [c for c in discord.interaction_contents(stats["token"]) if c]))

        today = datetime.now(teambot.usage.tz).date()
        scheduler = ReportScheduler(
            redis=teambot.redis, usage=teambot.usage, cron="0 9 * * 1", tz=UTC, kind="week",
            grace=timedelta(hours=1),
            destinations=[DestinationChannel(adapter, str(CHANNEL_ID))])
        posted = await scheduler.send(Period("week", today - timedelta(days=7), today + timedelta(days=2)))
        assert posted == [f"discord:{CHANNEL_ID}"]
    [post] = discord.calls_to("POST", f"/channels/{CHANNEL_ID}/messages")
    report = post.json["content"]
    assert DISCORD_PUBLIC_GAP in report and f"#{CHANNEL_ID}" in report
    assert "Questions **2**" in report and "Not named here: 1 questions (1 not answered" in report
    assert_absent(report, DISCORD_PRIVATE_GAP, str(PRIVATE_CHANNEL_ID))
    # The private channel's member asking there sees its own question (and only counts of the rest).
    assert DISCORD_PRIVATE_GAP in in_private
    assert_absent(in_private, DISCORD_PUBLIC_GAP, f"#{CHANNEL_ID}")


def test_who_can_read_a_slack_channel_comes_from_the_payload_when_it_says() -> None:
    from adapters.slack.translate import message_from_command, message_from_event

    def event(channel_type: str | None) -> dict[str, Any]:
        body = payload("message_im")
        body["event"]["channel_type"] = channel_type
        return body

    kinds = {kind: message_from_event(event(kind), bot_user_id="UBOT").visibility
             for kind in ("channel", "group", "im", "mpim", None)}
    assert kinds == {"channel": "public", "group": "private", "im": "private", "mpim": "private", None: "unknown"}
    assert message_from_event(payload("app_mention"), bot_user_id="UBOT").visibility == "unknown"
    command = payload("slash_command_ask")
    assert message_from_command(command, thread="1").visibility == "unknown"  # a name says nothing about privacy
    for name in ("privategroup", "directmessage", "mpdm-alice--bob-1"):
        assert message_from_command({**command, "channel_name": name}, thread="1").visibility == "private"


def test_unknown_and_private_thread_scopes_are_only_counted() -> None:
    from bot.usage import UsageScope

    reader = Audience(platform="slack", workspace="T1", channel="C1", public_channels=True)
    assert reader.names(UsageScope("slack", "T1", "C5", "public"))
    assert not reader.names(UsageScope("slack", "T1", "C5", "unknown"))
    assert not reader.names(UsageScope("slack", "T1", "C5", "private"))
    assert reader.names(UsageScope("slack", "T1", "C1", "private"))  # the readers are in that channel
    assert not reader.names(UsageScope("slack", "T1", "C1", "private_thread"))  # but not all in its threads
    assert reader.counts(UsageScope("slack", "T1", "C1", "private_thread"))
    for foreign in (UsageScope("slack", "T2", "C1", "public"), UsageScope("discord", "T1", "C1", "public")):
        assert not reader.counts(foreign) and not reader.names(foreign)
    direct = Audience(platform="discord", workspace="dm", channel="D7", channel_only=True)
    assert direct.names(UsageScope("discord", "dm", "D7", "private"))
    assert not direct.counts(UsageScope("discord", "dm", "D8", "private"))  # other people's DMs: not even counted


async def test_slack_channel_of_unknown_visibility_is_asked_once_and_only_counted(
        make_settings: Callable[..., Settings], redis_url: str) -> None:
    """Without the channels:read scope Slack can't say: the channel is counted, never named to the workspace."""
    async with FilesFakeSlack() as fake:
        fake.errors["conversations.info"] = "missing_scope"
        async with running_slack(slack_settings(make_settings, fake, None), fake) as slack:
            for number, text in enumerate([T1_PUBLIC_GAP, T1_OTHER_PUBLIC_GAP], start=1):
                await slack.event(mention(team="T1", channel="C1", text=text, number=number))
                await wait_recorded(redis_url, number)
            assert len([c for c in fake.calls if c.method == "conversations.info"]) == 1
            today = datetime.now(slack.teambot.usage.tz).date()
            report = await build_report(slack.teambot.usage, Period("week", today - timedelta(days=7),
                                                                    today + timedelta(days=2)),
                                        audience=Audience(platform="slack", workspace="T1", channel="CREP",
                                                          public_channels=True))
    assert report.current.questions == 2 and report.current.gaps == [] and report.current.unnamed_questions == 2
