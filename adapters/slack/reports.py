"""Usage reports on Slack: the chart uploaded with `files_upload_v2`, the report's text as its comment."""

from __future__ import annotations

import asyncio

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.mrkdwn import to_mrkdwn
from bot.core.values import Report


async def bot_workspace(client: AsyncWebClient) -> str:
    """The workspace (team id) of the bot token (`auth.test`): where every channel it posts to is."""
    identity = await client.auth_test()
    return str(identity["team_id"])


async def upload_report(client: AsyncWebClient, *, channel: str, report: Report) -> None:
    """`files.getUploadURLExternal` → upload → `files.completeUploadExternal` into `channel` (an id);
    SlackApiError on failure."""
    await client.files_upload_v2(
        channel=channel, file=report.chart_png, filename=report.chart_name, title=report.title,
        alt_txt=report.chart_alt, initial_comment=await asyncio.to_thread(to_mrkdwn, report.text),
    )
