"""Who may upload and delete, and admins' workspace-wide documents, through the real Slack app."""

from __future__ import annotations

from collections.abc import Callable

from bot.core.values import Scope
from bot.settings import Settings
from tests.support.documents import DEPLOY_GUIDE
from tests.support.fake_slack import TEAM_ID, FakeSlack
from tests.support.openai_server import FakeOpenAI
from tests.support.slack_bot import payload, running_slack, slack_settings

C1, C2 = Scope("slack", TEAM_ID, "C1"), Scope("slack", TEAM_ID, "C2")
EVERYWHERE = C1.workspace_wide()


async def _submit(harness, view: dict, name: str, data: bytes, user: str) -> None:
    submission = payload("view_submission_upload")
    submission["user"]["id"] = user
    submission["view"]["private_metadata"] = view["private_metadata"]
    file = harness.fake.add_file("F9", name, data, mimetype="text/markdown")
    submission["view"]["state"]["values"]["files"]["files"]["files"] = [file]
    assert (await harness.interaction(submission))[0] == 200


async def test_uploaders_admins_and_the_workspace_scope(make_settings: Callable[..., Settings], fake_slack: FakeSlack,
                                                        openai_server: FakeOpenAI) -> None:
    settings = slack_settings(make_settings, fake_slack, openai_server,
                              admins="slack:UADMIN", uploaders="slack:UEDITOR")
    async with running_slack(settings, fake_slack) as slack:
        # Not on the uploaders list: refused before any modal opens.
        await slack.command("/upload", "", user="UGUEST")
        [refusal] = await slack.fake.wait_for(lambda: slack.fake.of("chat.postEphemeral"))
        assert refusal.params["text"] == (
            "Can't upload: you are not allowed to add or delete documents here; ask an admin."
        )
        # An uploader may not publish workspace-wide.
        await slack.command("/upload", "everywhere", user="UEDITOR")
        await slack.fake.wait_for(lambda: len(slack.fake.of("chat.postEphemeral")) == 2)
        assert slack.fake.of("chat.postEphemeral")[1].params["text"] == (
            "Can't upload: only admins can change workspace-wide documents (files sent in a DM would be one);"
            " upload in a channel instead."
        )
        assert slack.fake.of("views.open") == []

        # An admin publishes to the whole workspace from C1 ...
        await slack.command("/upload", "everywhere", user="UADMIN", channel="C1")
        [opened] = await slack.fake.wait_for(lambda: slack.fake.of("views.open"))
        await _submit(slack, opened.params["view"], "policy.md", b"# Policy\n\nLaptops are replaced every 3 years.",
                      user="UADMIN")
        [post] = await slack.fake.wait_for(lambda: slack.fake.of("chat.postMessage"))
        assert "uploaded to the whole workspace's knowledge" in post.params["text"]
        assert [d.source for d in await slack.teambot.knowledge.list_documents([EVERYWHERE])] == ["policy.md"]

        # ... and C2 answers from it.
        openai_server.reply = "Every 3 years [1]."
        mention = payload("app_mention")
        mention["event"].update(channel="C2", text="<@UBOT> How often are laptops replaced?", ts="1700000900.000100")
        mention["event_id"] = "EvPERM1"
        await slack.event(mention)
        await slack.fake.wait_for(lambda: slack.fake.of("chat.update"))
        await slack.adapter.idle()
        assert "Laptops are replaced every 3 years." in str(openai_server.chat_requests()[-1]["body"]["messages"][0])

        # Deleting: a guest may not; an uploader may not touch workspace-wide documents; an admin may.
        await slack.teambot.knowledge.ingest(name="guide.md", data=DEPLOY_GUIDE, scope=C1, uploader="UEDITOR")
        for user, text in (("UGUEST", "delete guide.md"), ("UEDITOR", "delete policy.md")):
            before = len(slack.fake.of("chat.postEphemeral"))
            await slack.command("/kb", text, user=user)
            await slack.fake.wait_for(lambda before=before: len(slack.fake.of("chat.postEphemeral")) > before)
        refusals = [c.params["text"] for c in slack.fake.of("chat.postEphemeral")[-2:]]
        assert refusals == [
            "Could not delete: you are not allowed to add or delete documents here; ask an admin.",
            "Could not delete: no document named 'policy.md' here.",
        ]
        before = len(slack.fake.of("chat.postEphemeral"))
        await slack.command("/kb", "delete policy.md", user="UADMIN")
        await slack.fake.wait_for(lambda: len(slack.fake.of("chat.postEphemeral")) > before)
        assert slack.fake.of("chat.postEphemeral")[-1].params["text"].startswith("Deleted policy.md")
        assert await slack.teambot.knowledge.list_documents([EVERYWHERE]) == []
        assert [d.source for d in await slack.teambot.knowledge.list_documents([C1])] == ["guide.md"]
