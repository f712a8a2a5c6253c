"""Tables and small print in Discord answers (pure functions)."""

from __future__ import annotations

from adapters.discord.render import MAX_TABLE_WIDTH, display_width, subtext, tables_readable
from adapters.discord.stream import render_reply
from bot.core.values import Citation, Reply

TABLE = "Teams:\n\n| Team | On call |\n|:-----|-------:|\n| Data | **Mina** |\n| 플랫폼 | Joon \\| Ara |\n\nThat's all."


def test_a_pipe_table_becomes_an_aligned_code_block_counting_wide_characters() -> None:
    assert tables_readable(TABLE) == (
        "Teams:\n\n"
        "```\n"
        "Team   | On call\n"
        "-------+-----------\n"
        "Data   | Mina\n"
        "플랫폼 | Joon | Ara\n"
        "```\n\n"
        "That's all.")
    assert display_width("플랫폼") == 6 and display_width("e\u0301") == 1


def test_text_without_tables_and_tables_in_code_are_left_alone() -> None:
    assert tables_readable("a | b without a delimiter row\nnext line") == "a | b without a delimiter row\nnext line"
    fenced = "```\n| a | b |\n|---|---|\n```"
    assert tables_readable(fenced) == fenced
    for not_a_table in ("Use a | b\n---", "| a | b |\n|---|\n| 1 | 2 |"):  # a heading rule; cells don't match
        assert tables_readable(not_a_table) == not_a_table


def test_a_table_too_wide_to_line_up_becomes_one_line_per_row() -> None:
    wide = "| Name | Notes |\n|---|---|\n| deploy | " + "x" * MAX_TABLE_WIDTH + " |\n| rollback | undo |"
    assert tables_readable(wide) == f"- Name: deploy; Notes: {'x' * MAX_TABLE_WIDTH}\n- Name: rollback; Notes: undo"


def test_a_backtick_in_a_cell_cannot_close_the_block() -> None:
    rendered = tables_readable("| cmd |\n|---|\n| `make` ``` |")
    assert rendered.count("```") == 2 and "make" in rendered


def test_a_rendered_reply_has_readable_tables_and_subtext_sources() -> None:
    guide = Citation(1, "guide.md", "§ Linux", "…", "d1")
    reply = Reply(text="| a | b |\n|---|---|\n| 1 | 2 [1] |", citations=(guide,))
    assert render_reply(reply) == (
        "```\na | b\n--+------\n1 | 2 [1]\n```\n\n-# **Sources**\n-# [1] **guide.md** — § Linux")
    assert subtext("one\n\ntwo") == "-# one\n-# two"


def test_a_linked_source_is_a_masked_link_in_the_subtext() -> None:
    guide = Citation(1, "guide.md", "§ Linux", "…", "d1", url="https://wiki.example.com/guide")
    rendered = render_reply(Reply(text="Port 8080 [1].", citations=(guide,)))
    assert rendered.endswith("\n\n-# **Sources**\n-# [1] [**guide.md**](<https://wiki.example.com/guide>) — § Linux")
