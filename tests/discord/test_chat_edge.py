"""What reaches Discord from the chat edge: refused files never downloaded, names escaped,
no mentions allowed. Through the real discord.py client against the loopback Discord."""

from __future__ import annotations

from typing import Callable

from bot.events import Scope
from bot.settings import Settings
from tests.discord.conftest import running_discord
from tests.discord.fake_discord import BOT_ID, CHANNEL_ID, GUILD_ID
from tests.discord.test_discord import GUIDE

MENTION = f"<@{BOT_ID}>"
CHANNEL = Scope("discord", str(GUILD_ID), str(CHANNEL_ID))


async def test_a_refused_uploader_s_attachment_is_never_downloaded(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID),
                             uploaders="discord:role:Editors")
    async with running_discord(settings) as env:
        discord = env.discord
        attachment = discord.attachment("guide.md", GUIDE)
        await discord.message(MENTION, mention_bot=True, attachments=[attachment])
        [report] = await discord.wait_for(
            lambda: [c for t in discord.thread_ids() for c in discord.contents(t) if "✗" in c])
        assert report == "✗ guide.md: you are not allowed to add or delete documents here; ask an admin"
        assert not discord.calls_to("GET", r"/attachments/guide\.md"), "refused before downloading"
        assert await env.teambot.knowledge.list_documents([CHANNEL]) == []
