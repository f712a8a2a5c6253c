"""Attack: model output with emphasis nested thousands deep (`****…x…****`) made the mrkdwn
converter raise RecursionError: markdown-it bounds the nesting of blocks but not of emphasis, and
its syntax tree (and our renderer) recurse once per level. An answer too long for a `markdown`
block goes through the converter, so the final Slack message was never built and the
"Looking through the documents…" placeholder stayed. Such a run is now shown as its text.
"""

from __future__ import annotations

from adapters.slack.blocks import MARKDOWN_LIMIT, answer_blocks
from adapters.slack.mrkdwn import to_mrkdwn


def test_emphasis_nested_thousands_deep_is_shown_as_text() -> None:
    converted = to_mrkdwn("Intro **bold**.\n\n" + "*" * 4000 + "x" + "*" * 4000)
    assert converted.startswith("Intro *bold*.")
    assert "x" in converted


def test_a_long_answer_with_deep_emphasis_still_becomes_blocks() -> None:
    answer = "*" * 3000 + "deep" + "*" * 3000 + "\n\n" + "1 < 2 " * (MARKDOWN_LIMIT // 4)
    blocks = answer_blocks(answer)
    texts = [block["text"]["text"] for block in blocks]
    assert "deep" in "".join(texts)
    assert all(block["type"] == "section" for block in blocks)
