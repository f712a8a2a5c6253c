"""Attack: an uploaded document's heading carries terminal escape sequences to the operator's terminal.

File names are cleaned of control and bidi characters (`bot.knowledge.document_name`), but a
document's headings (chunk `location`, shown in every citation) are not: a Markdown file uploaded by
anyone in a channel with `# Leave<ESC>]0;...<BEL><ESC>[2J` makes `teambot chat` / `teambot ask`
write raw ESC sequences (window title, clear screen, and on some terminals clipboard writes via
OSC 52) when it cites that section. Slack and Discord show the bidi override as is too.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

from adapters.console.adapter import ConsoleAdapter
from bot.app import Teambot
from tests.support.openai_server import FakeOpenAI

HOSTILE_HEADING = "Leave\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J\u202eedoc"


async def lines(*items: str) -> AsyncIterator[str]:
    for item in items:
        yield item + "\n"


async def test_citations_printed_to_the_terminal_carry_no_control_characters(
        teambot_llm: Teambot, openai_server: FakeOpenAI, tmp_path: Path) -> None:
    (tmp_path / "leave.md").write_text(f"# {HOSTILE_HEADING}\n\nAnnual leave is twenty days.\n")
    openai_server.reply = "Twenty days [1]."
    out = io.StringIO()
    chat = ConsoleAdapter(teambot_llm, channel="ops",
                          lines=lines(f"/upload {tmp_path / 'leave.md'}", "How many days of annual leave?", "/quit"),
                          out=out)
    await chat.run()
    text = out.getvalue()
    assert "Sources:" in text, text
    controls = sorted({repr(ch) for ch in text if unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\n"})
    assert not controls, f"printed to the terminal: {controls}"
