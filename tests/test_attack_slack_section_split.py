"""Attack: an answer too long for a `markdown` block is split into mrkdwn sections of at most 3,000
characters, cut at a line break when there is one. A long paragraph has none, so the cut fell
anywhere: inside an escape (`&l` | `t;`, shown to the reader as such) or inside a link
(`<https://…` | `…|label>`, shown as raw markup). The cut now falls between words.
"""

from __future__ import annotations

import re

from adapters.slack.blocks import MARKDOWN_LIMIT, SECTION_LIMIT, answer_blocks

ENTITY_OR_LINK = re.compile(r"&(?:amp|lt|gt);|<https://[^<>|]+\|[^<>]+>")


def _section_texts(markdown: str) -> list[str]:
    blocks = answer_blocks(markdown)
    assert all(block["type"] == "section" for block in blocks)
    return [block["text"]["text"] for block in blocks]


def test_a_long_paragraph_is_split_between_words_not_inside_an_escape_or_link() -> None:
    sentence = "Compare 1 < 2 & 3 > 2, see [the guide](https://example.com/guide) for more. "
    paragraph = sentence * (2 * MARKDOWN_LIMIT // len(sentence))
    texts = _section_texts(paragraph)
    assert len(texts) > 1
    for text in texts:
        assert len(text) <= SECTION_LIMIT
        leftover = ENTITY_OR_LINK.sub("", text)
        assert "&" not in leftover and "<" not in leftover and ">" not in leftover, leftover[-80:]
