"""Token estimates and the context budget: every prompt is made to fit the model's window before it is sent.

No tokenizer of the served model is available (any OpenAI-compatible server may be behind the URL),
so tokens are estimated per character class, on the high side for the small open models users run.
Measured with SmolLM2's own tokenizer (llama-cpp-python, `make test-real-model`): 2.8-3.0 tokens per
Hangul syllable (a rare syllable is its three UTF-8 bytes, one token each) and 0.2-0.27 per English
character. A byte-level tokenizer never spends more tokens than bytes, so counting 3 per Hangul/CJK
character (their UTF-8 length) is an upper bound for every such model, and one per 3 UTF-8 bytes
elsewhere over-estimates English and other scripts (Cyrillic or Greek: 2 bytes a character, 0.67
tokens). A prompt that fits by this count fits the server; models with larger vocabularies (about
one token per syllable) only get less of their window used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_WIDE = re.compile("[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3\uf900-\ufaff]")
_TOKENS_PER_WIDE_CHARACTER = 3
_BYTES_PER_TOKEN = 3
MESSAGE_OVERHEAD_TOKENS = 8
"""A chat template's role markers and separators around each message."""


def estimate_tokens(text: str) -> int:
    """A conservative token count of `text` for Korean, Chinese, Japanese and Latin-script text alike."""
    if not text:
        return 0
    wide = len(_WIDE.findall(text))
    other_bytes = len(text.encode("utf-8", errors="replace")) - 3 * wide  # these characters are 3 bytes each
    return wide * _TOKENS_PER_WIDE_CHARACTER + -(-other_bytes // _BYTES_PER_TOKEN)


def estimate_message_tokens(contents: Sequence[str]) -> int:
    """Tokens of a chat prompt made of these message contents."""
    return sum(estimate_tokens(content) + MESSAGE_OVERHEAD_TOKENS for content in contents)


def truncate_to_tokens(text: str, tokens: int) -> str:
    """The longest prefix of `text` (cut at a space when one is near) estimated at most `tokens`, with "…"."""
    if estimate_tokens(text) <= tokens:
        return text
    if tokens <= 1:
        return ""
    # Shrink proportionally, then step down: the estimate is linear in the characters kept.
    keep = max(0, len(text) * (tokens - 1) // max(1, estimate_tokens(text)))
    while keep > 0 and estimate_tokens(text[:keep]) > tokens - 1:
        keep = keep * 9 // 10
    cut = text[:keep]
    space = cut.rfind(" ")
    if space > keep * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"


@dataclass(frozen=True, slots=True)
class ContextBudget:
    """What the model's window leaves for the prompt.

    `context_tokens` is the server's window (TEAMBOT_MODEL_CONTEXT_TOKENS); the answer's own
    tokens (`answer_tokens`) must fit in it too, and a margin covers the chat template and the
    estimate's error on unusual text.
    """

    context_tokens: int
    answer_tokens: int

    @property
    def prompt_tokens(self) -> int:
        margin = max(32, self.context_tokens // 20)
        return max(0, self.context_tokens - self.answer_tokens - margin)
