"""Attack: Slack sends a slash command's text with `&`, `<` and `>` escaped (`R&amp;D`). `/ask`
decoded it, `/kb` did not: `/kb delete R&D <draft>.md` looked for a document named
`R&amp;D &lt;draft&gt;.md`, so a document with any of those characters in its name could not be
deleted from Slack (and the refusal echoed the name escaped twice).
"""

from __future__ import annotations

from collections.abc import Callable

from bot.core.values import Scope
from bot.settings import Settings
from tests.support.fake_slack import TEAM_ID, FakeSlack
from tests.support.slack_bot import running_slack, slack_settings

NAME = "R&D <draft>.md"


async def test_kb_delete_finds_a_name_slack_sent_escaped(make_settings: Callable[..., Settings],
                                                          fake_slack: FakeSlack) -> None:
    scope = Scope("slack", TEAM_ID, "C1")
    async with running_slack(slack_settings(make_settings, fake_slack, None), fake_slack) as slack:
        await slack.teambot.knowledge.ingest(name=NAME, data=b"# Draft\n\nThe R&D budget is frozen.\n",
                                             scope=scope, uploader="U1")
        await slack.command("/kb", "delete R&amp;D &lt;draft&gt;.md")
        [reply] = await fake_slack.wait_for(lambda: fake_slack.of("chat.postEphemeral"))
        assert reply.params["text"] == "Deleted R&amp;D &lt;draft&gt;.md (1 chunks)."
        assert await slack.teambot.knowledge.list_documents([scope]) == []
