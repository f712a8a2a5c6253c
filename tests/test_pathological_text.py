"""Hostile text shapes: every regex applied to user or model text runs in linear time.

A heading followed by thousands of spaces once froze the bot for a minute (a backtracking
regex holds the GIL, so nothing else runs). Each shape is tried at 10 KB and 1 MB against the
document parsers of every text format and the formatters that run on the event loop; linear
code takes milliseconds to a second here, a backtracking pattern takes minutes or years.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from adapters.discord.render import tables_readable
from adapters.discord.stream import split_message
from adapters.slack import translate as slack_translate
from adapters.slack.mrkdwn import to_mrkdwn
from agent.text import lexical_tokens, split_sentences
from bot.parsers import IngestError, ParseLimits, parse_document


def _shapes(size: int) -> dict[str, str]:
    def repeat(unit: str) -> str:
        return unit * (size // len(unit))

    return {
        "heading then spaces": "# a" + " " * size + "x",
        "heading then tabs": "## a" + "\t" * size + "x\n",
        "heading then hashes": "# a" + "#" * size + " x",
        "spaces": repeat(" "),
        "tabs": repeat("\t"),
        "hashes": repeat("#"),
        "hash space": repeat("# "),
        "stars": repeat("*"),
        "bold openers": repeat("**x "),
        "underscores": repeat("_"),
        "underscore openers": repeat("__x "),
        "strike openers": repeat("~~x "),
        "brackets": repeat("["),
        "parentheses": repeat("("),
        "unclosed links": repeat("[a](http://x"),
        "backticks": repeat("`"),
        "blank lines with spaces": repeat("\n "),
        "newlines": repeat("\n"),
        "bullet markers alone": repeat("-\n"),
        "abbreviations": repeat("e.g. "),
        "unclosed mentions": repeat("<@U1|"),
        "separator-less Korean": repeat("가"),
        "pipes": repeat("|"),
        "escaped pipes": repeat("\\|"),
        "table rows": "| a | b |\n|---|---|\n" + repeat("| 1 | 2 |\n"),
        "delimiter rows": repeat("|-|\n"),
    }


FORMATTERS: dict[str, Callable[[str], object]] = {
    "slack mrkdwn": to_mrkdwn,
    "discord split": split_message,
    "discord tables": tables_readable,
    "sentences": split_sentences,
    "lexical tokens": lexical_tokens,
    "slack mention": lambda text: slack_translate.strip_mention(text, bot_user_id="U1"),
    "slack mentions bot": lambda text: slack_translate.mentions_bot(text, bot_user_id="U1"),
}
FORMATS = ("notes.md", "notes.txt", "table.csv", "data.json", "page.html", "script.py")


def _elapsed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    try:
        run()
    except IngestError:
        pass  # a refusal is as good as a parse here; only the time matters
    return time.perf_counter() - started


def _ordinary_text(size: int) -> str:
    """Prose with headings, lists, code and a table, the shapes the parsers and formatters are made for."""
    unit = ("# Deploys\n\nDeploys are frozen on **Fridays** after 15:00 (see [the guide](https://x.test/a)).\n"
            "- one item\n- `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n연차는 15일입니다. ")
    return unit * (size // len(unit))


def _bound(run_on: Callable[[str], object], *, size: int, floor: float) -> float:
    """How long `run_on` may take on a hostile text of `size`: `floor`, or 50 times what it takes on
    ordinary text of the same size just now, whichever is more. Measured on the same machine at the
    same moment, the ordinary run slows down with the machine's load as the hostile one does; linear
    code stays within a small multiple of it, while backtracking on these sizes takes minutes to years."""
    ordinary = _ordinary_text(size)
    return max(floor, 50 * _elapsed(lambda: run_on(ordinary)))


@pytest.mark.parametrize("size", [10_000, 1_000_000], ids=["10KB", "1MB"])
@pytest.mark.parametrize("formatter", FORMATTERS, ids=list(FORMATTERS))
def test_formatters_are_linear_on_hostile_text(formatter: str, size: int) -> None:
    # Linear code takes milliseconds on 10 KB and well under a second on 1 MB (a million list
    # items in the worst shapes); the bounds leave room for a busy machine, not for backtracking.
    # The 10 KB floor is no looser than the 1 MB one: quadratic work shows at 1 MB, backtracking at both.
    bound = _bound(FORMATTERS[formatter], size=size, floor=3.0)
    slow = {}
    for shape, text in _shapes(size).items():
        elapsed = _elapsed(lambda text=text: FORMATTERS[formatter](text))
        if elapsed > bound:
            slow[shape] = round(elapsed, 1)
    assert not slow, f"{formatter} took seconds on: {slow}"


@pytest.mark.parametrize("size", [10_000, 1_000_000], ids=["10KB", "1MB"])
@pytest.mark.parametrize("name", FORMATS)
def test_parsers_are_linear_on_hostile_text(name: str, size: int) -> None:
    # A 1 MB CSV of half a million one-cell rows is real work (about a second); a backtracking
    # pattern on the same megabyte would take longer than the universe has existed.
    bound = _bound(lambda text: parse_document(name, text.encode(), ParseLimits()), size=size,
                   floor=3.0 if size < 100_000 else 5.0)
    slow = {}
    for shape, text in _shapes(size).items():
        elapsed = _elapsed(lambda text=text: parse_document(name, text.encode(), ParseLimits()))
        if elapsed > bound:
            slow[shape] = round(elapsed, 1)
    assert not slow, f"{name} took seconds on: {slow}"


def test_markdown_headings_keep_their_text_and_strip_only_a_closing_sequence() -> None:
    parsed = parse_document("guide.md", "# Guide ##\n\nIntro.\n\n## C#\n\nSharp.\n\n### 설치   \n\n한국어.".encode(),
                            ParseLimits())
    assert [s.location for s in parsed.sections] == ["§ Guide", "§ Guide > C#", "§ Guide > C# > 설치"]


def test_a_bare_hash_line_does_not_swallow_the_next_line_as_a_heading() -> None:
    assert to_mrkdwn("#\nplain text") == "#\nplain text"
    assert to_mrkdwn("# Title #\n\nBody") == "*Title*\n\nBody"


def test_forged_placeholders_in_model_text_cannot_loop_or_crash_the_formatter() -> None:
    # The regex formatter held converted pieces behind private-use markers; text carrying the markers
    # itself once made a piece refer to itself (an endless loop on the event loop) or to nothing.
    # The parser-based one holds nothing back: such characters are text like any other.
    assert to_mrkdwn("`\ue0000\ue001` and \ue00099\ue001 **b**") == "`\ue0000\ue001` and \ue00099\ue001 *b*"


@pytest.mark.parametrize("name", ["report.pdf", "report.docx"])
def test_pdf_and_docx_with_hostile_text_are_read_in_bounded_time(name: str) -> None:
    from tests.support import documents

    # Their text comes out of pypdf and python-docx, whose own costs on such text are linear
    # enough at this size (and the sandbox's time limit bounds them beyond); ours must add nothing.
    slow = {}
    for shape, text in _shapes(10_000).items():
        if name.endswith(".pdf"):
            data = documents.make_pdf([text])
        else:
            data = documents.make_docx([("h1", text[:200].strip() or "title"), ("p", text)])
        elapsed = _elapsed(lambda data=data: parse_document(name, data, ParseLimits()))
        if elapsed > 5.0:
            slow[shape] = round(elapsed, 1)
    assert not slow, f"{name} took seconds on: {slow}"
