"""Post a report to a Slack channel: the chart uploaded with `files_upload_v2`, the text as its comment."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.mrkdwn import to_mrkdwn

CHART_NAME = "usage-report.png"


class SlackReportDestination:
    """`files.getUploadURLExternal` → upload → `files.completeUploadExternal` into `channel` (an id)."""

    def __init__(self, *, client: AsyncWebClient, channel: str) -> None:
        self._client = client
        self.channel = channel
        self.name = f"slack:{channel}"

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
