"""Post a report to a Slack channel: the chart uploaded with `files_upload_v2`, the text as its comment."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.mrkdwn import to_mrkdwn
from bot.reports.aggregate import Audience

CHART_NAME = "usage-report.png"


class SlackReportDestination:
    """`files.getUploadURLExternal` → upload → `files.completeUploadExternal` into `channel` (an id)."""

    def __init__(self, *, client: AsyncWebClient, channel: str) -> None:
        self._client = client
        self.channel = channel
        self.name = f"slack:{channel}"
        self._workspace: str | None = None

    async def audience(self) -> Audience:
        """The bot token's workspace (`auth.test`): its public channels are named, the rest only counted."""
        if self._workspace is None:
            identity = await self._client.auth_test()
            self._workspace = str(identity["team_id"])
        return Audience(platform="slack", workspace=self._workspace, channel=self.channel, public_channels=True)

    async def post(self, report_text: str, chart_png: bytes, *, title: str) -> None:
        """Share the chart in the channel with the report as its message (SlackApiError on failure)."""
        await self._client.files_upload_v2(
            channel=self.channel, file=chart_png, filename=CHART_NAME, title=title,
            alt_txt="Questions per day with the share the bot could not answer",
            initial_comment=to_mrkdwn(report_text),
        )


async def stats_ephemeral(*, client: AsyncWebClient, channel: str, user: str, text: str) -> None:
    """Show `/stats` output to the person who asked only."""
    await client.chat_postEphemeral(channel=channel, user=user, text=to_mrkdwn(text))
