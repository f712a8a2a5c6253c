"""What the agent view offers when a conversation with the bot starts: suggested prompts and a thread title.

Written once, for any platform with such a surface (Slack's agent/assistant view is the first): the
adapter asks here and renders what comes back.

Suggestions come from what the asker may see, and nothing else:

- documents: the ones the conversation can answer from (`visible_scopes`: in a DM, the workspace-wide
  ones), the most cited first, then the most recently updated;
- citations and unanswered questions: only from the usage buckets of the conversation itself and of
  the channel the asker is viewing in the same workspace (its readers are in it), never a private
  thread's (as `/stats` names them, `Audience.names`), and never another workspace's or platform's.

    suggestions = PromptSuggestions(knowledge=knowledge, usage=usage)
    prompts = await suggestions.for_conversation(message, viewing="C123")
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.core.labels import clean_label
from bot.core.values import DocumentInfo, IncomingMessage
from bot.core.visibility import visible_scopes
from bot.knowledge import KnowledgeBase
from bot.reports.aggregate import Audience
from bot.usage import RedisUsage

log = logging.getLogger(__name__)

MAX_PROMPTS = 4
"""Slack's agent view shows at most four suggested prompts."""
PROMPT_TITLE_CHARS = 60
"""A prompt's title is a button's label: one short line (the message it sends is the whole text)."""
THREAD_TITLE_CHARS = 80
"""A thread's title is listed in the app's history: one short line."""
PROMPT_MESSAGE_CHARS = 300
"""As long as an unanswered question is kept in the usage buckets."""
LOOKBACK_DAYS = 14
"""How far back citations and unanswered questions are read."""
PROMPTS_HEADING = "Suggested from your team's documents"


@dataclass(frozen=True, slots=True)
class SuggestedPrompt:
    """A button in the agent view: `title` is shown, `message` is sent as the user's question."""

    title: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"title": self.title, "message": self.message}


def thread_title(question: str) -> str:
    """The title of a thread from its first question: one printable line, cut to `THREAD_TITLE_CHARS`
    (empty when nothing printable is left)."""
    return clean_label(question, max_chars=THREAD_TITLE_CHARS)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _document_prompt(document: DocumentInfo) -> SuggestedPrompt:
    name = document.title.strip() or document.source
    return SuggestedPrompt(title=clean_label(f"What's in {name}?", max_chars=PROMPT_TITLE_CHARS),
                           message=f"What are the main points of {name} ({document.source})?")


def _question_prompt(question: str) -> SuggestedPrompt:
    return SuggestedPrompt(title=clean_label(question, max_chars=PROMPT_TITLE_CHARS),
                           message=clean_label(question, max_chars=PROMPT_MESSAGE_CHARS))


def _interleave(first: Sequence[SuggestedPrompt], second: Sequence[SuggestedPrompt]) -> list[SuggestedPrompt]:
    """One of each in turn; the longer list fills the rest."""
    merged: list[SuggestedPrompt] = []
    for index in range(max(len(first), len(second))):
        merged.extend(items[index] for items in (first, second) if index < len(items))
    return merged


@dataclass(slots=True)
class _Seen:
    """Citations and unanswered questions read from the buckets the asker may see."""

    cited: Counter[str]
    unanswered: list[str]
    """Newest first, each once."""


class PromptSuggestions:
    """Suggested prompts for a conversation, from the documents it can answer from and what was asked
    where its asker reads (see the module's docstring for exactly which data)."""

    def __init__(self, *, knowledge: KnowledgeBase, usage: RedisUsage | None, lookback_days: int = LOOKBACK_DAYS,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self._knowledge = knowledge
        self._usage = usage
        self._lookback_days = lookback_days
        self._clock = clock

    async def for_conversation(self, message: IncomingMessage, *, viewing: str | None = None,
                               limit: int = MAX_PROMPTS) -> list[SuggestedPrompt]:
        """Up to `limit` prompts for the conversation `message` is in (its text is not read), and for the
        channel `viewing` of the same workspace its sender is looking at, if any: the most cited documents
        and the latest unanswered questions in turn, then recently updated documents. Empty when the
        conversation has no documents and nothing was asked."""
        documents = await self._knowledge.list_documents(visible_scopes(message))
        seen = await self._seen(message, viewing=viewing)
        by_name = {document.source: document for document in documents}
        cited = [by_name[name] for name, _ in seen.cited.most_common() if name in by_name]
        document_prompts = [_document_prompt(document) for document in cited]
        question_prompts = [_question_prompt(question) for question in seen.unanswered]
        recent = sorted(documents, key=lambda d: d.ingested_at, reverse=True)
        candidates = _interleave(document_prompts, question_prompts) + [_document_prompt(d) for d in recent]
        chosen: list[SuggestedPrompt] = []
        titles: set[str] = set()
        for prompt in candidates:
            if prompt.title and prompt.title.casefold() not in titles:
                titles.add(prompt.title.casefold())
                chosen.append(prompt)
            if len(chosen) == limit:
                break
        return chosen

    def _days(self) -> list[date]:
        tz = self._usage.tz if self._usage is not None else UTC
        today = self._clock().astimezone(tz).date()
        return [today - timedelta(days=back) for back in range(self._lookback_days)]

    async def _seen(self, message: IncomingMessage, *, viewing: str | None) -> _Seen:
        seen = _Seen(cited=Counter(), unanswered=[])
        if self._usage is None:
            return seen
        places = [message.channel] + ([viewing] if viewing and viewing != message.channel else [])
        days = self._days()
        questions: list[tuple[date, int, str]] = []
        for place in places:
            # One channel's buckets at a time: nothing of the workspace's other channels is even read.
            audience = Audience(platform=message.platform, workspace=message.workspace, channel=place,
                                channel_only=True)
            for day in await self._usage.read_workspace_days(days, platform=message.platform,
                                                             workspace=message.workspace, channel=place):
                for scope_day in day.scopes:
                    if not audience.names(scope_day.scope):
                        continue
                    seen.cited.update(scope_day.cited)
                    questions.extend((day.day, position, question)
                                     for position, question in enumerate(scope_day.gaps))
        questions.sort(key=lambda item: (item[0], item[1]), reverse=True)
        once = dict.fromkeys(question.strip() for _, _, question in questions if question.strip())
        seen.unanswered = list(once)
        return seen
