"""What reaches Slack and the logs from the chat edge: names escaped, refused files never
downloaded, and no message content in third-party DEBUG logs. Through the real Bolt app
against the loopback Slack Web API."""

from __future__ import annotations

import json
from collections.abc import Callable

from bot.core.values import Scope
from bot.observability import configure_logging
from bot.settings import Settings
from tests.support.fake_slack import TEAM_ID, FakeSlack
from tests.support.logs import capture_root_handler, restored_logging
from tests.support.openai_server import FakeOpenAI
from tests.support.slack_bot import payload, running_slack, slack_settings

C1 = Scope("slack", TEAM_ID, "C1")

ROTA = b"# Pager rota\n\nTeam Kestrel carries the pager for the lighthouse cluster this quarter.\n"
QUESTION = "Which pager rota covers the lighthouse cluster?"


def _mention_with_file(fake: FakeSlack, *, name: str, data: bytes, text: str, user: str = "U1",
                       event_id: str = "EvEDGE1", ts: str = "1700000300.000100") -> dict:
    body = payload("app_mention_with_files")
    body["event_id"] = event_id
    body["event"].update(text=f"<@UBOT> {text}", user=user, ts=ts, event_ts=ts,
                         files=[fake.add_file(f"F{event_id}", name, data, mimetype="text/markdown")])
    return body


async def test_third_party_debug_logs_carry_no_question_or_document_text(
        make_settings: Callable[..., Settings], fake_slack: FakeSlack, openai_server: FakeOpenAI) -> None:
    with restored_logging():
        settings = slack_settings(make_settings, fake_slack, openai_server, log_level="DEBUG")
        assert not settings.log_message_text and not settings.log_library_debug
        configure_logging(level="DEBUG", json_format=True, secrets=settings.secret_values())
        buffer = capture_root_handler()
        openai_server.reply = "Team Kestrel carries the pager for the lighthouse cluster [1]."
        async with running_slack(settings, fake_slack) as slack:
            await slack.event(_mention_with_file(fake_slack, name="rota.md", data=ROTA, text=QUESTION))
            [answer] = await fake_slack.wait_for(lambda: fake_slack.of("chat.startStream"))
            await fake_slack.wait_for(lambda: fake_slack.final_update(answer.ts))
            await slack.adapter.idle()

            lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
            assert any(line["message"] == "question received" for line in lines), "the bot's own lines are kept"
            output = buffer.getvalue()
            for content in ("lighthouse", "Kestrel"):
                assert content not in output, f"message or document text ({content!r}) in the logs"
            assert not [line for line in lines if line["level"] == "DEBUG"
                        and not line["logger"].startswith(("bot.", "adapters.", "agent."))]

            # The explicit opt-in lets the libraries' debug lines (and so the content) through.
            configure_logging(level="DEBUG", json_format=True, secrets=settings.secret_values(),
                              library_debug=True)
            opted_in = capture_root_handler()
            await slack.event(_mention_with_file(fake_slack, name="rota2.md", data=ROTA, text=QUESTION,
                                                 event_id="EvEDGE2", ts="1700000301.000100"))
            await fake_slack.wait_for(lambda: len(fake_slack.messages()) >= 4)  # two upload notes, two answers
            await slack.adapter.idle()
            assert "Sending a request" in opted_in.getvalue() and "lighthouse" in opted_in.getvalue()


async def test_a_refused_uploader_s_files_are_never_downloaded(
        make_settings: Callable[..., Settings], fake_slack: FakeSlack, openai_server: FakeOpenAI) -> None:
    settings = slack_settings(make_settings, fake_slack, openai_server, uploaders="slack:UEDITOR")
    async with running_slack(settings, fake_slack) as slack:
        body = _mention_with_file(fake_slack, name="big.md", data=b"# Big\n\n" + b"x" * (9 * 1048576), text="")
        fake_slack.add_file("F2", "stub.md", b"# Stub\n\nOnly files.info knows where I am.\n")
        body["event"]["files"].append({"id": "F2", "name": "stub.md", "file_access": "check_file_info"})
        await slack.event(body)

        [post] = await fake_slack.wait_for(lambda: fake_slack.of("chat.postMessage"))
        assert post.params["text"].splitlines()[1:] == [
            "✗ big.md: you are not allowed to add or delete documents here; ask an admin",
            "✗ stub.md: you are not allowed to add or delete documents here; ask an admin",
        ]
        await slack.adapter.idle()
        assert fake_slack.downloads == [], "nothing is downloaded for a user who may not upload"
        assert fake_slack.of("files.info") == [], "nor looked up"
        assert await slack.teambot.knowledge.list_documents([C1]) == []

        # Someone allowed still uploads the same way.
        await slack.event(_mention_with_file(fake_slack, name="rota.md", data=ROTA, text="", user="UEDITOR",
                                             event_id="EvEDGE3", ts="1700000302.000100"))
        await fake_slack.wait_for(lambda: len(fake_slack.of("chat.postMessage")) == 2)
        assert "✓ Added rota.md" in fake_slack.of("chat.postMessage")[1].params["text"]
        assert [d["id"] for d in fake_slack.downloads] == ["FEvEDGE3"]


HOSTILE_NAME = "<!channel> urgent <mailto:x@y|payroll portal>.md"
ESCAPED_NAME = "&lt;!channel&gt; urgent &lt;mailto:x@y|payroll portal&gt;.md"
RAW_MARKUP = ("<!channel>", "<!here>", "<!everyone>", "<mailto:", "<@U999>")


def _raw_markup_posted(fake: FakeSlack) -> list[tuple[str, str]]:
    """Every Slack control sequence a message the bot sent carries unescaped (its `<@U1>` aside)."""
    found = []
    for call in fake.calls:
        if call.method.startswith("chat."):
            sent = json.dumps({k: v for k, v in call.params.items() if k in ("text", "blocks")}, ensure_ascii=False)
            found += [(call.method, markup) for markup in RAW_MARKUP if markup in sent]
    return found


async def test_document_names_and_echoed_words_are_escaped_in_every_message(
        make_settings: Callable[..., Settings], fake_slack: FakeSlack, openai_server: FakeOpenAI) -> None:
    async with running_slack(slack_settings(make_settings, fake_slack, openai_server), fake_slack) as slack:
        body = _mention_with_file(fake_slack, name=HOSTILE_NAME, data=ROTA, text="")
        body["event"]["files"].append(fake_slack.add_file("F2", "<@U999> pwned.exe", b"MZ", mimetype="text/plain"))
        await slack.event(body)
        [upload] = await fake_slack.wait_for(lambda: fake_slack.of("chat.postMessage"))
        report = upload.params["text"].splitlines()[1:]
        assert report[0] == f"✓ Added {ESCAPED_NAME} (1 chunks)"
        assert report[1].startswith("✗ &lt;@U999&gt; pwned.exe: ")

        await slack.command("/kb", "")
        [listing] = await fake_slack.wait_for(lambda: fake_slack.of("chat.postEphemeral"))
        assert listing.params["text"].startswith(f"{ESCAPED_NAME} · 1 chunks · ")

        openai_server.reply = "Team Kestrel carries the pager [1]."
        await slack.command("/ask", f"<!here> {QUESTION}")
        placeholder = await fake_slack.wait_for(lambda: fake_slack.of("chat.postMessage")[1:])
        assert placeholder[0].params["text"].startswith(f"<@U1> asked: &lt;!here&gt; {QUESTION}")
        final = await fake_slack.wait_for(lambda: fake_slack.final_update(placeholder[0].ts))
        assert f"[1] {ESCAPED_NAME}" in final.params["text"], "the notification text lists sources escaped too"
        assert final.params["blocks"][0]["elements"][0]["text"] == f"<@U1> asked: &lt;!here&gt; {QUESTION}"

        # Slack may send a command's text with `&`, `<`, `>` already escaped: shown once-escaped, not twice.
        await slack.command("/ask", "&lt;!here&gt; is 1 &lt; 2 &amp; 3?")
        second = await fake_slack.wait_for(lambda: fake_slack.of("chat.postMessage")[2:])
        assert second[0].params["text"].startswith("<@U1> asked: &lt;!here&gt; is 1 &lt; 2 &amp; 3?")
        await fake_slack.wait_for(lambda: fake_slack.final_update(second[0].ts))

        await slack.command("/kb", "delete <!everyone>")
        await slack.command("/kb", f"delete {HOSTILE_NAME}")
        await fake_slack.wait_for(lambda: len(fake_slack.of("chat.postEphemeral")) == 3)
        await slack.adapter.idle()
        replies = sorted(c.params["text"] for c in fake_slack.of("chat.postEphemeral")[1:])
        assert replies == ["Could not delete: no document named '&lt;!everyone&gt;' here.",
                           f"Deleted {ESCAPED_NAME} (1 chunks)."]
        assert _raw_markup_posted(fake_slack) == []
