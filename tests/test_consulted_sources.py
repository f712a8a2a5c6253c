"""Sources the answer cites are shown apart from passages the model was only given (issue 18: honest
citations). Before, a model answer without [n] markers listed passages 1-3 as its sources; now it lists
none, and every surface names the consulted passages on their own line instead."""

from __future__ import annotations

import io

from adapters.console.adapter import ConsoleStream
from adapters.discord.stream import render_reply
from adapters.http.translate import reply_json
from adapters.slack.stream import reply_blocks
from bot.core.values import Citation, Reply

GUIDE = Citation(number=1, source="guide.md", location="§ Linux", snippet="Port 8080.", document_id="d1")
LUNCH = Citation(number=2, source="lunch.md", location="", snippet="Bibimbap.", document_id="d2")
UNCITED = Reply(text="The console listens on 8080.", citations=(), consulted=(GUIDE, LUNCH))
CITED = Reply(text="Port 8080 [1].", citations=(GUIDE,), consulted=(GUIDE, LUNCH))


def test_consulted_passages_are_named_apart_from_sources() -> None:
    assert UNCITED.consulted_text() == "Also consulted: guide.md (§ Linux); lunch.md"
    assert CITED.consulted_only == (LUNCH,) and CITED.consulted_text() == "Also consulted: lunch.md"
    assert Reply(text="x").consulted_text() == ""


async def test_every_surface_shows_consulted_passages_apart_from_sources() -> None:
    out = io.StringIO()
    console = ConsoleStream(out)
    await console.finish(CITED)
    printed = out.getvalue()
    assert "Sources:\n  [1] guide.md (§ Linux)\n" in printed and "Also consulted: lunch.md" in printed

    slack_texts = [e["text"] for b in reply_blocks(UNCITED) if b["type"] == "context" for e in b["elements"]]
    assert slack_texts == ["Also consulted: guide.md (§ Linux); lunch.md"]

    discord = render_reply(UNCITED)
    assert "**Sources**" not in discord and "-# Also consulted: guide.md (§ Linux); lunch.md" in discord

    body = reply_json(CITED, thread="t")
    assert [c["source"] for c in body["citations"]] == ["guide.md"]
    assert [c["source"] for c in body["consulted"]] == ["lunch.md"]
