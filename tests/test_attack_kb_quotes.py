"""Attack: `/kb delete "my file.md"` worked, but the same words typed on a phone (iOS and macOS turn
`"` into “ ” by default) or with single quotes looked for a document named `“my file.md”`
(quotes included), which never exists. Any matching pair of quotes around the name is taken off.
"""

from __future__ import annotations

import pytest

from bot.commands import DeleteDocument, parse_documents_command


@pytest.mark.parametrize("words", ['delete "my file.md"', "delete “my file.md”", "delete 'my file.md'",
                                   "delete ‘my file.md’", "rm  “my file.md” "])
def test_a_quoted_name_is_the_name_without_its_quotes(words: str) -> None:
    assert parse_documents_command(words, command="/kb") == DeleteDocument("my file.md")


def test_a_quote_that_is_part_of_the_name_stays() -> None:
    assert parse_documents_command("delete Bob's notes.md", command="/kb") == DeleteDocument("Bob's notes.md")
    assert parse_documents_command("delete 'quoted' notes.md", command="/kb") == DeleteDocument("'quoted' notes.md")
