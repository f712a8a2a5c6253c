"""The demo as `make demo` sets it up, for scenario tests: what it ingests into which channel, uploaded
through the console adapter, and questions asked in its chat."""

from __future__ import annotations

import io
import re
import shlex
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.base import CollectingStream
from adapters.console import translate
from adapters.console.adapter import ConsoleAdapter
from bot.app import Teambot
from bot.core.values import Reply

ROOT = Path(__file__).resolve().parents[2]


def demo_recipe() -> tuple[list[tuple[list[str], str]], str]:
    """What `make demo` ingests into which channel, and the channel its chat opens on."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe is not None, "the Makefile has a demo target"
    ingests, chat = [], None
    for line in recipe.group(1).splitlines():
        words = shlex.split(line.replace("$(BIN)/", ""))
        if "teambot" not in words:
            continue
        command = words[words.index("teambot") + 1 :]
        channel = command[command.index("--channel") + 1]
        if command[0] == "ingest":
            ingests.append(([w for w in command[1:] if not w.startswith("--") and w != channel], channel))
        elif command[0] == "chat":
            chat = channel
    assert chat is not None, "make demo opens a chat"
    return ingests, chat


async def lines(*items: str) -> AsyncIterator[str]:
    """Console input: each item as one typed line."""
    for item in items:
        yield item + "\n"


async def ingest_demo(teambot: Teambot, monkeypatch: pytest.MonkeyPatch) -> Teambot:
    """`teambot` with what `make demo` ingests, uploaded through the console adapter."""
    monkeypatch.chdir(ROOT)  # the Makefile's paths are relative to the checkout
    ingests, _ = demo_recipe()
    for paths, channel in ingests:
        out = io.StringIO()
        console = ConsoleAdapter(teambot, channel=channel, lines=lines("/upload " + " ".join(paths), "/quit"), out=out)
        await console.run()
        assert "✗" not in out.getvalue(), out.getvalue()
    return teambot


async def ask(teambot: Teambot, question: str, channel: str, thread: str | None = None) -> Reply:
    """`question` asked in `channel` (in a thread named after it unless `thread` is given), as the console asks."""
    message = translate.to_message(question, channel=channel, thread=thread or question[:40])
    return await teambot.dispatcher.handle(message, CollectingStream())
