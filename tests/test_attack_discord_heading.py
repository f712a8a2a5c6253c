"""Attack: a document heading is echoed into Discord's sources footer through `plain()`.

`plain()` is discord.py's `escape_markdown` + `escape_mentions`, whose regular expressions are
quadratic (`\\[.+\\]\\(.+\\)`, `^\\s*-`, `<[^: >]+:\\/...`). A Markdown heading is unbounded, becomes the
chunk's `location`, and every answer citing it renders `plain(location)` on the event loop.
"""

from __future__ import annotations

import time

from adapters.discord.stream import render_reply
from bot.core.values import Citation, Reply
from bot.parsers import ParseLimits, parse_document


def test_huge_markdown_heading_does_not_freeze_discord_sources_footer() -> None:
    hostile = b"# " + b"<" * 100_000 + b"\n\nThe vacation policy allows twenty days.\n"
    parsed = parse_document("policy.md", hostile, ParseLimits())
    location = parsed.sections[0].location
    reply = Reply(
        text="Twenty days [1].",
        answered=True,
        citations=(Citation(number=1, source="policy.md", location=location, snippet="", document_id="d1"),),
    )
    started = time.perf_counter()
    render_reply(reply)
    elapsed = time.perf_counter() - started
    # Linear work on 100 KB takes milliseconds; the quadratic escape takes ~15 s here.
    assert elapsed < 3.0, f"rendering one citation took {elapsed:.1f}s (event loop blocked)"
