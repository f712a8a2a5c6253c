"""Upload permissions by Discord role, and admins-only workspace-wide uploads, through the real client."""

from __future__ import annotations

from collections.abc import Callable

from adapters.discord.commands import UPLOAD_EVERYWHERE
from bot.core.values import Scope
from bot.settings import Settings
from tests.support.discord_bot import RunDiscord
from tests.support.documents import DEPLOY_GUIDE
from tests.support.fake_discord import CHANNEL_ID, EDITOR_ROLE_ID, GUILD_ID


async def test_uploads_need_the_editor_role_and_everywhere_needs_an_admin(make_settings: Callable[..., Settings],
                                                                          run_discord: RunDiscord) -> None:
    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID),
                             uploaders="discord:role:Editors", admins="discord:1")
    async with run_discord(settings) as env:
        discord = env.discord

        async def upload(*, roles: list[int], everywhere: bool = False) -> str:
            attachment = discord.attachment("guide.md", DEPLOY_GUIDE)
            options = [{"name": "file", "type": 11, "value": attachment["id"]}]
            sent = await discord.slash(UPLOAD_EVERYWHERE if everywhere else "upload", options,
                                       attachments=[attachment], roles=roles)
            [report] = await discord.wait_for(lambda: discord.interaction_contents(sent["token"]))
            return report

        assert await upload(roles=[]) == "✗ guide.md: you are not allowed to add or delete documents here; ask an admin"
        assert not discord.calls_to("GET", r"/attachments/guide\.md"), "refused before downloading"
        assert await upload(roles=[EDITOR_ROLE_ID], everywhere=True) == (
            "✗ guide.md: only admins can change workspace-wide documents (files sent in a DM would be one);"
            " upload in a channel instead")
        assert (await upload(roles=[EDITOR_ROLE_ID])).startswith("✓ Added guide.md")

        channel = Scope("discord", str(GUILD_ID), str(CHANNEL_ID))
        assert [d.source for d in await env.teambot.knowledge.list_documents([channel])] == ["guide.md"]
        assert await env.teambot.knowledge.list_documents([channel.workspace_wide()]) == []


async def test_the_admins_upload_is_hidden_from_members_who_cannot_manage_the_server(
        make_settings: Callable[..., Settings], run_discord: RunDiscord) -> None:
    settings = make_settings(discord_token="test-token", discord_guild_ids=str(GUILD_ID))
    async with run_discord(settings) as env:
        [sync] = env.discord.calls_to("PUT", rf"/applications/\d+/guilds/{GUILD_ID}/commands")
        commands = {c["name"]: c for c in sync.json}
        manage_guild = 1 << 5
        assert commands[UPLOAD_EVERYWHERE]["default_member_permissions"] == manage_guild
        assert commands[UPLOAD_EVERYWHERE]["contexts"] == [0], "servers only: a DM has no channels to share with"
        assert [o["name"] for o in commands["upload"]["options"]] == ["file", "note"], "no admin-only option"
        everyone = [name for name, c in commands.items() if c.get("default_member_permissions") is None]
        assert sorted(everyone) == ["Ask teambot about this", "Save to knowledge", "Summarize this thread", "ask",
                                   "forget", "kb", "stats", "summarize", "upload"]
