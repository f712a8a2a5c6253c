"""The console adapter: commands and streamed answers through the real dispatcher."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

from adapters.console import translate
from adapters.console.adapter import ConsoleAdapter
from bot.app import Teambot
from tests.support.openai_server import FakeOpenAI


async def lines(*items: str) -> AsyncIterator[str]:
    for item in items:
        yield item + "\n"


def test_translate_commands() -> None:
    assert translate.parse_command("what is up?") is None
    assert translate.parse_command("/upload 'my file.md' b.txt") == translate.Upload(("my file.md", "b.txt"))
    assert translate.parse_command("/thread release") == translate.SwitchThread("release")
    assert translate.parse_command("/upload") == translate.Invalid("usage: /upload PATH...")
    # The documents command's words go to the command service, which reads them as Slack's /kb's.
    assert translate.parse_command("/docs") == translate.Documents("")
    assert translate.parse_command("/kb list") == translate.Documents("list")
    assert translate.parse_command("/delete 'my file.md'") == translate.Documents("delete my file.md")
    assert translate.parse_command("/kb delete guide.md") == translate.Documents("delete guide.md")
    assert translate.parse_command("/delete") == translate.Documents("delete")
    assert translate.parse_command("/kb frob") == translate.Documents("frob")
    assert translate.parse_command("/frobnicate") == translate.Invalid("unknown command /frobnicate; type /help")
    message = translate.to_message("  hi  ", channel="ops", thread="t")
    assert message.conversation_key == "console:local:ops:t" and message.text == "hi"


async def test_chat_session(teambot_llm: Teambot, openai_server: FakeOpenAI, tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text("# Guide\n\nThe web console listens on port 8080.\n")
    (tmp_path / "bad.exe").write_bytes(b"MZ")
    openai_server.reply = "Port 8080 [1]."
    out = io.StringIO()
    chat = ConsoleAdapter(
        teambot_llm, channel="ops",
        lines=lines(f"/upload {tmp_path / 'guide.md'} {tmp_path / 'bad.exe'} {tmp_path / 'nope.md'}",
                    "/docs", "Which port does the console use?", "/thread other", "/forget", "/quit",
                    "never read"),
        out=out,
    )
    await chat.run()
    text = out.getvalue()

    assert "✓ Added guide.md (1 chunks)" in text
    assert "✗ bad.exe: unsupported file type .exe" in text
    assert "✗ " + str(tmp_path / "nope.md") + ": No such file or directory" in text
    assert "guide.md · 1 chunks" in text
    assert "teambot> Port 8080 [1].\nSources:\n  [1] guide.md (§ Guide)" in text
    assert "Now in thread 'other'." in text and "Forgot the history of thread 'other'." in text
    assert len(openai_server.chat_requests()) == 1
    assert [t.question for t in await teambot_llm.history.load("console:local:ops:main")] == [
        "Which port does the console use?"
    ]


async def test_upload_of_a_folder_reads_it_as_ingest_does(teambot: Teambot, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "linux").mkdir(parents=True)
    (docs / "guide.md").write_text("# Guide\n\nThe web console listens on port 8080.\n")
    (docs / "linux" / "setup.txt").write_text("Run make install.\n")
    (docs / "photo.png").write_bytes(b"\x89PNG")  # not a document: skipped, as by `teambot ingest`
    (docs / "__init__.py").write_bytes(b"")  # empty: skipped
    (docs / ".hidden").mkdir()
    (docs / ".hidden" / "secret.md").write_text("# Secret\n")
    (tmp_path / "empty").mkdir()
    out = io.StringIO()
    chat = ConsoleAdapter(teambot, channel="ops", lines=lines(f"/upload {docs} {tmp_path / 'empty'}", "/quit"), out=out)
    await chat.run()
    text = out.getvalue()

    assert "✓ Added guide.md (1 chunks)" in text and "✓ Added setup.txt (1 chunks)" in text
    assert "✗ " + str(tmp_path / "empty") + ": no supported files in this folder" in text
    assert "photo.png" not in text and "secret.md" not in text and "__init__" not in text
    listed = await teambot.knowledge.list_documents([chat.scope])
    assert sorted(d.source for d in listed) == ["guide.md", "setup.txt"]
