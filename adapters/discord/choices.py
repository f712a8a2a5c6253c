"""Autocomplete choices: the documents `/kb delete` offers as the user types."""

from __future__ import annotations

from collections.abc import Sequence

from discord import app_commands

from bot.core.labels import clean_label
from bot.core.values import WORKSPACE_WIDE, DocumentInfo

MAX_CHOICES = 25
"""Discord shows at most this many autocomplete choices."""
CHOICE_CHARS = 100
"""A choice's name and value are each at most this many characters."""


def document_choices(documents: Sequence[DocumentInfo], typed: str) -> list[app_commands.Choice[str]]:
    """The documents whose name starts with (first) or contains `typed`, case-insensitively, as choices.

    Each choice shows the document's name (cleaned to one line, workspace-wide ones marked) and sends
    its id, so two documents of the same name stay apart; an id too long to send sends the name.
    """
    wanted = typed.strip().casefold()
    starting: list[DocumentInfo] = []
    containing: list[DocumentInfo] = []
    for document in sorted(documents, key=lambda d: d.source.casefold()):
        name = document.source.casefold()
        if name.startswith(wanted):
            starting.append(document)
        elif wanted in name:
            containing.append(document)
    return [_choice(document) for document in [*starting, *containing][:MAX_CHOICES]]


def _choice(document: DocumentInfo) -> app_commands.Choice[str]:
    suffix = " (every channel)" if document.scope.channel == WORKSPACE_WIDE else ""
    name = clean_label(document.source, max_chars=CHOICE_CHARS - len(suffix)) or document.id[:CHOICE_CHARS]
    value = document.id if len(document.id) <= CHOICE_CHARS else document.source[:CHOICE_CHARS]
    return app_commands.Choice(name=name + suffix, value=value)
