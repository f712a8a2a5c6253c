"""The `teambot` command as a user runs it: a real subprocess, no network, no keys."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.support.cli import cli_env, run_cli
from tests.support.openai_server import FakeOpenAI

GUIDE = ("# Deploy guide\n\n## Linux\n\nThe default port of the web console is 8080.\n\n"
         "## Windows\n\nRun teambot-setup.exe.\n")


async def test_ingest_and_ask_json_offline_with_embedded_redis(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(GUIDE)
    (tmp_path / "docs" / "photo.png").write_bytes(b"\x89PNG")
    env = cli_env(tmp_path)

    code, out, err = await run_cli("ingest", "docs", "--channel", "ops", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "✓ Added guide.md (" in out and "photo.png" not in out

    code, out, err = await run_cli("ask", "--json", "--channel", "ops", "What is the default port of the web console?",
                                   env=env, cwd=tmp_path)
    assert code == 0, err
    answer = json.loads(out)
    assert "8080" in answer["answer"] and answer["thread"] == "cli" and answer["mode"] == "extractive"
    citation = answer["citations"][0]
    assert isinstance(citation.pop("updated_at"), float), "when the document last changed"
    assert citation == {
        "source": "guide.md", "location": "§ Deploy guide > Linux",
        "snippet": "The default port of the web console is 8080.", "url": None,
    }

    code, out, _ = await run_cli("docs", "list", "--channel", "ops", "--json", env=env, cwd=tmp_path)
    assert [d["source"] for d in json.loads(out)] == ["guide.md"]
    code, out, _ = await run_cli("docs", "list", "--channel", "elsewhere", env=env, cwd=tmp_path)
    assert "No documents here yet" in out
    code, out, _ = await run_cli("docs", "delete", "guide.md", "--channel", "ops", env=env, cwd=tmp_path)
    assert code == 0 and out.startswith("Deleted guide.md")

    # `docs` is the console's /docs and /delete: a channel lists the workspace-wide documents too, and the
    # person at the terminal may delete them from there.
    (tmp_path / "faq.md").write_text("# FAQ\n\nThe office opens at nine.\n")
    assert (await run_cli("ingest", "faq.md", "--channel", "*", env=env, cwd=tmp_path))[0] == 0
    code, out, _ = await run_cli("docs", "list", "--channel", "ops", "--json", env=env, cwd=tmp_path)
    assert [(d["source"], d["channel"]) for d in json.loads(out)] == [("faq.md", "*")]
    code, out, _ = await run_cli("docs", "delete", "faq.md", "--channel", "ops", env=env, cwd=tmp_path)
    assert code == 0 and out.startswith("Deleted faq.md")


async def test_second_ask_in_a_thread_sends_the_first_turn_as_history(tmp_path: Path, openai_server: FakeOpenAI,
                                                                       redis_url: str) -> None:
    (tmp_path / "guide.md").write_text(GUIDE)
    env = cli_env(tmp_path, OPENAI_BASE_URL=openai_server.base_url, OPENAI_API_KEY="sk-test", REDIS_URL=redis_url,
                  TEAMBOT_CHAT_MODEL="fake-model")
    assert (await run_cli("ingest", "guide.md", env=env, cwd=tmp_path))[0] == 0
    openai_server.reply = "The console listens on 8080 [1]."

    code, out, err = await run_cli("ask", "--thread", "T", "Which port does the web console use?",
                                   env=env, cwd=tmp_path)
    assert code == 0, err
    assert "8080 [1]" in out
    code, _, err = await run_cli("ask", "--thread", "T", "And how do I install it on Windows?", env=env, cwd=tmp_path)
    assert code == 0, err

    final = [r["body"] for r in openai_server.chat_requests() if r["body"].get("stream")][-1]
    contents = [m["content"] for m in final["messages"]]
    assert contents[1:4] == ["Which port does the web console use?", "The console listens on 8080 [1].",
                             "And how do I install it on Windows?"]


async def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    cases = [
        (("ingest", "missing.md"), env, 1, "teambot: error: missing.md: no such file or directory"),
        (("ingest", "empty.txt", "image.png"), env, 1, "teambot: 2 of 2 files could not be ingested"),
        (("ask", "  "), env, 1, "teambot: error: the question is empty"),
        (("docs", "delete", "nothing.md"), env, 1, "teambot: error: no document named 'nothing.md' here"),
        (("ask", "hi"), {**env, "TEAMBOT_TOP_K": "zero"}, 2,
         "teambot: error: TEAMBOT_TOP_K: Input should be a valid integer"),
        (("serve",), env, 1,
         "teambot: error: nothing to serve: set SLACK_BOT_TOKEN, DISCORD_TOKEN or TEAMBOT_API_TOKEN"),
    ]
    for args, case_env, expected_code, expected in cases:
        code, out, err = await run_cli(*args, env=case_env, cwd=tmp_path)
        assert code == expected_code, (args, out, err)
        assert err.strip().splitlines()[-1].startswith(expected), (args, err)
        assert "Traceback" not in err


async def test_a_corrupt_pdf_is_refused_with_one_plain_line(tmp_path: Path) -> None:
    from tests.support import documents

    pdf = documents.make_pdf(["Quarterly numbers", "More numbers"])
    (tmp_path / "broken.pdf").write_bytes(pdf[: len(pdf) // 2])  # pypdf warns "EOF marker not found"
    code, out, err = await run_cli("ingest", "broken.pdf", env=cli_env(tmp_path), cwd=tmp_path)
    assert code == 1
    assert out.strip() == "✗ broken.pdf: the PDF is damaged or unreadable"
    assert err.strip() == "teambot: 1 of 1 files could not be ingested"


async def test_ctrl_c_after_reading_a_pdf_exits_quietly(tmp_path: Path) -> None:
    import signal

    from tests.support import documents

    (tmp_path / "numbers.pdf").write_bytes(documents.make_pdf(["Quarterly numbers are up."]))
    # Its own session, like a terminal's foreground group: Ctrl-C reaches the bot and its readers.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "chat", cwd=tmp_path, env=cli_env(tmp_path), start_new_session=True,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"/upload numbers.pdf\n")
    await process.stdin.drain()
    seen = b""
    while b"numbers.pdf" not in seen:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=120)
        assert line, "the chat ended before reading the PDF"
        seen += line
    assert "✓ Added numbers.pdf" in seen.decode()
    os.killpg(process.pid, signal.SIGINT)
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 130
    assert err.decode().strip() == "", err.decode()
