"""The agent's state and the dependencies its nodes run with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from agent.answerability import AnswerabilityRules
from agent.records import Passage
from agent.retrieval import HybridRetriever
from bot.core.values import Citation, ReplyMode, Scope, ThreadMessage, Turn


def add_usage(earlier: dict[str, int] | None, more: dict[str, int] | None) -> dict[str, int]:
    """Token counts of every model call of one question add up (condense and answer)."""
    total = dict(earlier or {})
    for key, value in (more or {}).items():
        total[key] = max(total.get(key, 0), value) if key == "estimated" else total.get(key, 0) + value
    return total


class AgentState(TypedDict, total=False):
    """What flows through the graph for one question."""

    question: str
    history: list[Turn]
    scopes: list[Scope]
    thread: list[ThreadMessage]
    """The thread's root and other people's earlier replies (agent/thread.py): searched beside the documents."""
    search_query: str
    """The question made standalone with the thread's history; what retrieval searches for."""
    broadened: bool
    """True once the search was retried together with the thread's previous question."""
    passages: list[Passage]
    """What retrieval found; after `judge_answerability`, only the passages that answer."""
    answer_kind: str
    """The kind of answer the question asks for (`time`, `number`, `person`), or empty."""
    judgement: str
    """Why the passages answer or not (`answers`, `unknown_name`, ...: see agent/answerability.py)."""
    answer: str
    citations: list[Citation]
    """The passages the answer cites with a valid [n] marker, and only those."""
    consulted: list[Citation]
    """Every passage the model was given (cited or not), numbered as in its prompt."""
    answered: bool
    mode: ReplyMode
    usage: Annotated[dict[str, int], add_usage]
    """input_tokens and output_tokens of every model call; `estimated` is 1 when a server reported none."""
    model_down: str
    """Why the model failed before the answer (e.g. while condensing): the answer quotes instead."""
    model_down_kind: str
    """The kind of that failure (`model_unreachable`, ...), for a note in the question's language."""
    fallback_note: str
    """The note an extractive answer ends with, when it stands in for a failed model."""


@dataclass(frozen=True, slots=True)
class AgentContext:
    """Run-time dependencies, injected by the dispatcher (never read from the environment)."""

    retriever: HybridRetriever
    chat_model: Any | None
    """A langchain chat model, or None when no model is configured (extractive answers)."""
    top_k: int = 5
    min_relevance: float = 0.3
    answerability: AnswerabilityRules = field(default_factory=AnswerabilityRules)
    """When the passages answer the question (agent/answerability.py)."""
    max_quote_sentences: int = 3
    """Sentences quoted without a model: three kept the gold answer in 0.835 of SQuAD dev replies, two in 0.79."""
    max_answer_tokens: int = 768
    max_condense_tokens: int = 96
    context_tokens: int = 4096
    """The model's window: every prompt is trimmed to fit it together with `max_answer_tokens`."""
