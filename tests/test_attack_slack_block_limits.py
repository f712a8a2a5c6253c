"""Attack: Slack's 3,000-character limit on a block's text is applied to the answer but not to the
sources and "Also consulted" context blocks, which echo document names and headings (escaped, so
`<` becomes `&lt;`, four times as long). Slack answers `invalid_blocks` to both the final
`chat.update` and the fallback `chat.postMessage`, so the reply never arrives and the
"Looking through the documents…" placeholder stays.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.slack.stream import SECTION_LIMIT, reply_blocks
from bot.core.values import Citation, Reply
from bot.parsers import ParseLimits, parse_document


def _texts(blocks: list[dict[str, Any]]) -> list[str]:
    texts = []
    for block in blocks:
        if "text" in block and isinstance(block["text"], dict):
            texts.append(block["text"]["text"])
        for element in block.get("elements", []):
            if element.get("type") == "mrkdwn":
                texts.append(element["text"])
    return texts


def _heading_location(heading: str) -> str:
    parsed = parse_document("policy.md", f"# {heading}\n\nVacation is twenty days.\n".encode(), ParseLimits())
    return parsed.sections[0].location


def _citation(number: int, source: str, location: str) -> Citation:
    return Citation(number=number, source=source, location=location, snippet="", document_id=f"d{number}")


@pytest.mark.parametrize("case", ["long heading cited", "names of 255 '<' consulted"])
def test_every_block_text_stays_within_slacks_limit(case: str) -> None:
    if case == "long heading cited":
        reply = Reply(text="Twenty days [1].", answered=True,
                      citations=(_citation(1, "policy.md", _heading_location("Vacation " * 1000)),))
    else:
        # Names within the API's own 255-character limit; three passages consulted but not cited.
        names = [("<" * 250) + f"{n}.md" for n in range(3)]
        reply = Reply(text="Twenty days.", answered=True,
                      consulted=tuple(_citation(n + 1, name, "") for n, name in enumerate(names)))
    too_long = [len(text) for text in _texts(reply_blocks(reply)) if len(text) > SECTION_LIMIT]
    assert not too_long, f"block texts over Slack's {SECTION_LIMIT}-character limit: {too_long}"
