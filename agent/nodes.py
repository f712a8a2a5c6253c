"""The agent's nodes: each is a verb that reads the state and returns what it changes."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime, get_runtime

from agent import prompts
from agent.answerability import (
    AnswerKind,
    asked_part,
    judge,
    kind_strength,
    question_text,
    sentence_similarities,
    term_rarity,
)
from agent.budget import ContextBudget, estimate_message_tokens, estimate_tokens, truncate_to_tokens
from agent.llm import ContextOverflow, EmptyModelAnswer, describe_model_error, is_context_overflow, with_token_limit
from agent.records import Passage
from agent.retrieval import coverage, hangul_share, heading_terms
from agent.state import AgentContext, AgentState
from agent.text import lexical_tokens, query_terms, split_sentences
from agent.thread import (
    THREAD_SOURCE,
    merge_passages,
    per_message_tokens,
    thread_chunks,
    thread_passages,
    with_thread_terms,
)
from bot.core.values import Citation, Turn

log = logging.getLogger(__name__)

_CITATION_MARK = re.compile(r"\[(\d{1,3})\]")
_LINE_START_MARK = re.compile(r"^[ \t]*(?:[-*+][ \t]*)?\[(\d{1,3})\]", re.MULTILINE)
_SNIPPET_CHARS = 240
_FOLLOW_UP_CONTEXT_TURNS = 1


def _is_korean(text: str) -> bool:
    return hangul_share(text) > 0.3


def _history_messages(state: AgentState, *, turns: int | None = None) -> list[BaseMessage]:
    history = state.get("history") or []
    if turns is not None:
        history = history[-turns:]
    messages: list[BaseMessage] = []
    for turn in history:
        messages.append(HumanMessage(turn.question))
        messages.append(AIMessage(turn.answer))
    return messages


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET_CHARS else flat[: _SNIPPET_CHARS - 1].rstrip() + "…"


def _citation(number: int, passage: Passage, snippet: str | None = None) -> Citation:
    chunk = passage.chunk
    return Citation(
        number=number, source=chunk.source, location=chunk.location,
        snippet=snippet or _snippet(chunk.text), document_id=chunk.document_id, title=chunk.title,
        url=chunk.url, updated_at=chunk.updated_at, chunk_id=chunk.id,
    )


async def condense_question(state: AgentState, runtime: Runtime[AgentContext]) -> AgentState:
    """With a model, rewrite a follow-up into a standalone query using the thread's history.

    The rewrite is bounded (TEAMBOT_MAX_CONDENSE_TOKENS) and checked to be a short query: small
    models answer the question instead ("The on-call team is a team of 12..."). A rewrite that is
    not one falls back to the question plus the previous question's words. The question is searched
    for as it is read (`question_text`: NFKC, no invisible characters, no "Q:" label before it).
    """
    question = question_text(state["question"])
    history = state.get("history") or []
    model = runtime.context.chat_model
    if not history or model is None:
        return {"search_query": question, "broadened": False}
    context = runtime.context
    recent = history[-3:]
    contents = [prompts.CONDENSE_SYSTEM, *_turn_contents(recent), question]
    # The rewrite needs the recent turns only to resolve references: trim them to what fits.
    budget = ContextBudget(context.context_tokens, context.max_condense_tokens).prompt_tokens
    while len(recent) > 0 and estimate_message_tokens(contents) > budget:
        recent = recent[1:]
        contents = [prompts.CONDENSE_SYSTEM, *_turn_contents(recent), question]
    if not recent:  # not even the last turn fits beside the question: nothing to resolve references with
        return {"search_query": _question_with_history_terms(question, history), "broadened": False}
    messages = [SystemMessage(prompts.CONDENSE_SYSTEM), *_history_messages({"history": recent}), HumanMessage(question)]
    try:
        outcome = await _call_model(model, messages, max_tokens=context.max_condense_tokens)
    except Exception as exc:  # noqa: BLE001 - rewriting is an optimisation; the question alone still works
        described = describe_model_error(exc)
        log.warning("condensing the question failed", extra={"kind": described[0] if described else "internal"})
        update: AgentState = {"search_query": question, "broadened": False}
        if described and described[0] in _MODEL_DOWN_KINDS:
            update["model_down"] = _short_reason(described[1])  # the answer would wait for the same failure
            update["model_down_kind"] = described[0]
        return update
    rewritten = outcome.text.strip()
    rewritten = rewritten.strip('"\'')  # some models quote the query despite the prompt
    if outcome.finish_reason != "length" and _is_search_query(rewritten, question=question, history=recent):
        return {"search_query": rewritten, "broadened": False, "usage": outcome.usage}
    log.info("condensed query rejected", extra={"length": len(rewritten), "finish_reason": outcome.finish_reason})
    return {"search_query": _question_with_history_terms(question, history), "broadened": False,
            "usage": outcome.usage}


_MODEL_DOWN_KINDS = frozenset({"model_unreachable", "model_timeout"})
_DEGRADE_KINDS = _MODEL_DOWN_KINDS | {"model_rate_limit", "model_overloaded", "model_dropped", "model_empty"}
"""Failures the documents' own words can stand in for: the model is away, busy, or stopped mid-answer."""
_QUERY_MAX_CHARS = 200
_STATEMENT_WORDS = 6
"""Words from which a rewrite ending in a full stop reads as an answer; "web console port." is still a query."""
_SENTENCE_END = re.compile(r"[.!。]\s*$")


def _short_reason(reason: str) -> str:
    """"the language model failed (HTTP 500). Please try again." -> "the language model failed (HTTP 500)"."""
    return reason.split(". ")[0].rstrip(".")


def _turn_contents(turns: Sequence[Turn]) -> list[str]:
    return [text for turn in turns for text in (turn.question, turn.answer)]


def _is_search_query(candidate: str, *, question: str, history: Sequence[Turn]) -> bool:
    """A short query made of the conversation's words, not an answer to it."""
    if not candidate or "\n" in candidate:
        return False
    if len(candidate) > max(_QUERY_MAX_CHARS, 2 * len(question)):
        return False
    if len(split_sentences(candidate)) > 1:
        return False
    if _SENTENCE_END.search(candidate) and len(candidate.split()) >= _STATEMENT_WORDS:
        return False  # a query is not a statement: "The on-call team is a team of 12 engineers."
    terms = set(lexical_tokens(candidate))
    known = set(lexical_tokens(question))
    for turn in history:
        known.update(lexical_tokens(turn.question))
        known.update(lexical_tokens(turn.answer))
    if not terms or not terms & known:
        return False
    # A rewrite resolves references with words already said; most new words mean invented content.
    return len(terms - known) <= max(1, len(terms) // 3)


def _question_with_history_terms(question: str, history: Sequence[Turn]) -> str:
    """The question, plus the words of the previous question it does not repeat (at most eight)."""
    if not history:
        return question
    own = set(lexical_tokens(question))
    extra: list[str] = []
    for word in history[-1].question.split():
        word_terms = set(lexical_tokens(word))
        if word_terms and not word_terms <= own and word not in extra:
            extra.append(word.strip("?!.,;:"))
        if len(extra) >= 8:
            break
    return " ".join([question, *extra]) if extra else question


def broaden_with_history(state: AgentState) -> AgentState:
    """Nothing relevant for the question alone: search again together with the previous question.

    This is how "And on Windows?" after "How do I install on Linux?" finds the install guide
    without a model, while a self-contained question is never mixed with an unrelated earlier one.
    """
    previous = " ".join(turn.question for turn in (state.get("history") or [])[-_FOLLOW_UP_CONTEXT_TURNS:])
    return {"search_query": f"{state['question']} {previous}", "broadened": True}


async def retrieve(state: AgentState, runtime: Runtime[AgentContext]) -> AgentState:
    """Find the best passages within the caller's scopes."""
    context = runtime.context
    retriever = context.retriever
    passages = await retriever.retrieve(state["search_query"], state["scopes"], k=context.top_k)
    if state.get("thread") and state["scopes"]:
        # The thread's messages compete with the documents, scored the same way (agent/thread.py).
        chunks = thread_chunks(state["thread"], scope=state["scopes"][0], max_tokens_each=per_message_tokens(
            context_tokens=context.context_tokens, answer_tokens=context.max_answer_tokens))
        said = await thread_passages(state["search_query"], chunks, index=retriever.index, scopes=state["scopes"],
                                     weights=retriever.weights)
        passages = merge_passages(passages, said, k=context.top_k, min_relevance=context.min_relevance)
    if state.get("broadened"):
        # The earlier question only helps find the topic: a passage must still speak to
        # this question's own words, or "what is the capital of Peru?" would get the last answer again.
        own_terms = query_terms(question_text(state["question"]))
        idf = await retriever.index.idf(own_terms, state["scopes"])
        passages = [
            p for p in passages
            if coverage(own_terms, p.chunk.index_terms(), idf) >= context.min_relevance / 2
        ]
    return {"passages": passages}


async def judge_answerability(state: AgentState, runtime: Runtime[AgentContext]) -> AgentState:
    """Keep only the passages that answer the question (`agent.answerability`); none means decline.

    Both answers see only what passes: the quotes without a model, and the passages a model is given.
    After a broadened search the question's own words are weighed, as `retrieve` filters by them.
    """
    context = runtime.context
    question = state["question"]
    weighed = question if state.get("broadened") else state["search_query"]
    terms = lexical_tokens(weighed) + lexical_tokens(question)
    rarity = with_thread_terms(await term_rarity(context.retriever.index, terms, state["scopes"]),
                               state.get("thread") or [])
    passages = _distinct(state.get("passages") or [])
    # How like the question each passage's closest sentence reads, where the embedder is calibrated for it.
    embedder = context.retriever.embedder
    calibration = context.answerability.calibration(embedder.name)
    # A statement pasted beside the question reads exactly like the sentence it was copied from: what
    # is compared is what the message asks (`agent.answerability.asked_part`).
    asked = asked_part(question_text(question))
    compared = asked.text if asked is not None and not asked.refers_back else weighed
    similarity = await sentence_similarities(
        embedder, compared, _relevant(passages, context.min_relevance), units_of=_unit_texts,
    ) if calibration is not None else None
    judgement = judge(question, passages, rarity=rarity, min_relevance=context.min_relevance, units_of=_unit_texts,
                      query=weighed, rules=context.answerability, similarity=similarity, calibration=calibration)
    if not judgement.answers:
        log.info("the documents do not answer", extra={"reason": judgement.reason})
    return {"passages": judgement.passages, "answer_kind": judgement.kind.value if judgement.kind else "",
            "judgement": judgement.reason}


def _unit_texts(passage: Passage) -> list[str]:
    return [unit.text for unit in _quote_units(passage.chunk.text, passage.chunk.location)]


def route_after_judgement(
    state: AgentState,
) -> Literal["generate_answer", "extract_answer", "broaden_with_history", "decline"]:
    """Answer with the model or extractively; if nothing answers, broaden once, then decline."""
    context = get_runtime(AgentContext).context
    if not state.get("passages"):
        if state.get("history") and not state.get("broadened"):
            return "broaden_with_history"
        return "decline"
    return "generate_answer" if context.chat_model is not None else "extract_answer"


def _relevant(passages: list[Passage], min_relevance: float) -> list[Passage]:
    return [p for p in passages if p.coverage >= min_relevance]


def _source_entries(passages: Sequence[Passage]) -> list[str]:
    entries = []
    for number, passage in enumerate(passages, start=1):
        chunk = passage.chunk
        entries.append(
            prompts.SOURCE_ENTRY.format(
                number=number,
                source=chunk.source,
                location=f" ({chunk.location})" if chunk.location else "",
                text=chunk.text,
            )
        )
    return entries


@dataclass
class _ModelOutcome:
    text: str
    finish_reason: str | None
    usage: dict[str, int] = field(default_factory=dict)


async def _call_model(model: Any, messages: list[BaseMessage], *, max_tokens: int,
                      on_delta: Callable[[str], None] | None = None) -> _ModelOutcome:
    """One bounded, streamed model call; raises what the server did wrong.

    Streams differ by server: a role-only first chunk and keep-alive comments (llama-cpp-python),
    usage reported or not (`stream_options.include_usage` is ignored by some). An empty stream is
    what llama-cpp-python sends for a prompt longer than its window (ContextOverflow); chunks
    without a word or without a finish reason are an interrupted answer.
    """
    parts: list[str] = []
    finish_reason: str | None = None
    usage: dict[str, int] = {}
    chunks = 0
    try:
        async for chunk in with_token_limit(model, max_tokens).astream(messages):
            chunks += 1
            delta = chunk.content if isinstance(chunk.content, str) else ""
            if delta:
                parts.append(delta)
                if on_delta is not None:
                    on_delta(delta)
            finish_reason = (getattr(chunk, "response_metadata", None) or {}).get("finish_reason") or finish_reason
            if getattr(chunk, "usage_metadata", None):
                usage = {"input_tokens": chunk.usage_metadata.get("input_tokens", 0),
                         "output_tokens": chunk.usage_metadata.get("output_tokens", 0)}
    except ValueError:
        if chunks == 0:  # langchain's "No generation chunks were returned": an empty 200
            raise ContextOverflow("the server answered with an empty stream") from None
        raise
    text = "".join(parts)
    if not usage:
        # Not reported: estimate both sides the way the context budget counts, and say it is an estimate.
        usage = {"input_tokens": estimate_message_tokens([str(m.content) for m in messages]),
                 "output_tokens": estimate_tokens(text), "estimated": 1}
    if not text.strip():
        raise EmptyModelAnswer(f"finish_reason={finish_reason}")
    if finish_reason is None:
        raise _Interrupted(text, usage)
    return _ModelOutcome(text, finish_reason, usage)


class _Interrupted(Exception):
    """The stream ended cleanly (`[DONE]`) but with no finish reason: the answer was cut off."""

    def __init__(self, text: str, usage: dict[str, int]) -> None:
        super().__init__("the stream ended without a finish reason")
        self.text = text
        self.usage = usage


def _fit_prompt(*, question: str, history: Sequence[Turn], passages: Sequence[Passage],
                budget_tokens: int) -> tuple[list[BaseMessage], list[Passage]]:
    """The answer's messages trimmed to `budget_tokens`, and the passages they still number.

    Oldest history turns go first, then the lowest-ranked passages (one always stays), then the
    remaining passage is shortened. A question that does not fit on its own is a ContextOverflow.
    """
    entries = _source_entries(passages)
    # One runaway answer must not push every other turn out: each remembered turn gets at most an
    # eighth of the room before the oldest turns are dropped.
    per_turn = max(64, budget_tokens // 8)
    turns = [replace(turn, question=truncate_to_tokens(turn.question, per_turn),
                     answer=truncate_to_tokens(turn.answer, per_turn)) for turn in history]
    kept = list(passages)

    def total() -> int:
        sources = "\n\n".join(entries)
        return estimate_message_tokens(
            [prompts.ANSWER_SYSTEM.format(sources=sources), *_turn_contents(turns), question])

    while turns and total() > budget_tokens:
        turns.pop(0)
    while len(entries) > 1 and total() > budget_tokens:
        entries.pop()
        kept.pop()
    excess = total() - budget_tokens
    if excess > 0 and entries:
        entries[-1] = truncate_to_tokens(entries[-1], max(0, estimate_tokens(entries[-1]) - excess))
        if total() > budget_tokens or not entries[-1]:
            raise ContextOverflow("the question alone does not fit the context window")
    elif excess > 0:
        raise ContextOverflow("the question alone does not fit the context window")
    messages: list[BaseMessage] = [SystemMessage(prompts.ANSWER_SYSTEM.format(sources="\n\n".join(entries)))]
    for turn in turns:
        messages.extend((HumanMessage(turn.question), AIMessage(turn.answer)))
    messages.append(HumanMessage(question))
    return messages, kept


def _cited_numbers(answer: str, count: int) -> list[int]:
    """The passage numbers the answer really cites with [n] markers, in order.

    Markers outside 1..count are not citations; neither are markers that number a list: lines
    starting [1], [2], [3]..., or a run [1]...[52] that goes past the passages given.
    """
    found = [int(n) for n in _CITATION_MARK.findall(answer)]
    if not found:
        return []
    distinct = list(dict.fromkeys(found))
    if any(n > count or n < 1 for n in found) and distinct == list(range(1, len(distinct) + 1)):
        return []  # the model numbered something with brackets and ran past the sources
    line_starts = [int(n) for n in _LINE_START_MARK.findall(answer)]
    ignored: set[int] = set()
    if len(line_starts) >= 2 and line_starts == list(range(1, len(line_starts) + 1)):
        # A numbered list: those markers at line starts number items, not sources. A number the
        # answer also uses inside a sentence is still a citation.
        inside = [int(n) for n in _CITATION_MARK.findall(_LINE_START_MARK.sub("", answer))]
        ignored = set(line_starts) - set(inside)
    return [n for n in distinct if 1 <= n <= count and n not in ignored]


def _note(question: str, english: str, korean: str, **values: str) -> str:
    return (korean if _is_korean(question) else english).format(**values)


async def generate_answer(state: AgentState, runtime: Runtime[AgentContext]) -> AgentState:
    """Answer with the model, grounded in the numbered passages, streaming tokens as they come.

    Only passages over the relevance bar are sent, trimmed with the history to fit the context
    window. A server that still finds the prompt too long gets one retry with half the budget.
    When the model is unreachable, overloaded or fails mid-answer, the answer quotes the passages.
    """
    context = runtime.context
    question = state["question"]
    # The same text twice (overlapping chunks, copies) would be two numbers for one source.
    passages = _distinct(_relevant(state["passages"], context.min_relevance))
    if state.get("model_down"):
        return await _degrade(state, runtime, streamed="", reason=state["model_down"],
                              kind=state.get("model_down_kind", ""), failure=None)
    budget = ContextBudget(context.context_tokens, context.max_answer_tokens).prompt_tokens
    streamed: list[str] = []

    def on_delta(delta: str) -> None:
        streamed.append(delta)
        runtime.stream_writer({"delta": delta})

    for attempt in (1, 2):
        messages, sent = _fit_prompt(question=question, history=state.get("history") or [], passages=passages,
                                     budget_tokens=budget)
        try:
            outcome = await _call_model(context.chat_model, messages, max_tokens=context.max_answer_tokens,
                                        on_delta=on_delta)
            break
        except _Interrupted as cut:
            return await _degrade(state, runtime, streamed=cut.text, failure=cut, usage=cut.usage,
                                  kind="model_interrupted",
                                  reason="the stream ended without finishing")
        except Exception as exc:  # sorted below: retry, degrade, or let the dispatcher explain
            if is_context_overflow(exc) and attempt == 1 and not streamed:
                # Our estimate was not conservative enough for this server (or its window is smaller
                # than configured): once more with half the room; a second refusal is explained.
                sent_tokens = estimate_message_tokens([str(m.content) for m in messages])
                log.warning("the server found the prompt too long; retrying with a smaller one",
                            extra={"budget_tokens": budget, "prompt_tokens": sent_tokens})
                # Half the room for history and passages, even when the prompt was well within budget.
                floor = estimate_message_tokens([prompts.ANSWER_SYSTEM.format(sources=""), question])
                budget = floor + max(0, min(budget, sent_tokens) - floor) // 2
                continue
            described = describe_model_error(exc)
            if described is None or described[0] not in _DEGRADE_KINDS:
                raise  # a broken request, bad credentials or a crashing model: the dispatcher says which
            return await _degrade(state, runtime, streamed="".join(streamed), reason=_short_reason(described[1]),
                                  kind=described[0],
                                  failure=exc)
    answer = outcome.text.strip()
    if outcome.finish_reason == "length":
        answer += "\n\n" + _note(question, prompts.CUT_SHORT_NOTE, prompts.CUT_SHORT_NOTE_KO)
    consulted = [_citation(n, p) for n, p in enumerate(sent, start=1)]
    cited = set(_cited_numbers(outcome.text, len(sent)))
    citations = [c for c in consulted if c.number in cited]
    return {"answer": answer, "citations": citations, "consulted": consulted, "answered": True, "mode": "llm",
            "usage": outcome.usage}


async def _degrade(state: AgentState, runtime: Runtime[AgentContext], *, streamed: str, reason: str, kind: str,
                   failure: BaseException | None, usage: dict[str, int] | None = None) -> AgentState:
    """The model failed: quote the passages instead, after whatever the model already said.

    `reason` is the English sentence describing the failure, `kind` its kind: a Korean question's
    note names the kind in Korean rather than quoting the English reason inside a Korean sentence.
    """
    log.warning("the model failed; answering with quotes", extra={"reason": reason, "kind": kind})
    question = state["question"]
    if _is_korean(question):
        reason = prompts.MODEL_FAILURE_REASONS_KO.get(kind, "언어 모델 오류")
    note = _note(question, prompts.MODEL_UNAVAILABLE_NOTE, prompts.MODEL_UNAVAILABLE_NOTE_KO, reason=reason)
    # After a partial answer the quotes follow the "stopped" note, which already says why.
    quoted = await extract_answer({**state, "fallback_note": "" if streamed.strip() else note}, runtime)
    if not quoted.get("answered"):
        if not streamed.strip():
            if failure is not None:
                raise failure
            quoted = {**quoted, "answer": quoted["answer"] + "\n\n" + note}
        else:
            quoted = {**quoted, "answer": "", "citations": []}
    answer = quoted["answer"]
    if streamed.strip():
        stopped = _note(question, prompts.MODEL_STOPPED_NOTE if answer else prompts.MODEL_STOPPED_ONLY_NOTE,
                        prompts.MODEL_STOPPED_NOTE_KO if answer else prompts.MODEL_STOPPED_ONLY_NOTE_KO,
                        reason=reason)
        answer = f"{streamed.strip()} …\n\n{stopped}" + (f"\n\n{answer}" if answer else "")
    consulted = [_citation(n, p) for n, p in
                 enumerate(_distinct(_relevant(state["passages"], runtime.context.min_relevance)), start=1)]
    update: AgentState = {**quoted, "answer": answer, "answered": True, "mode": "extractive",
                          "consulted": consulted}
    if usage:
        update["usage"] = usage
    return update


@dataclass(frozen=True, slots=True)
class _Unit:
    """What extraction may quote from a passage: a sentence of prose, or one line of code, YAML or a table."""

    text: str
    number: int | None = None
    """The line (code) or row (CSV) number in the document, where the passage's location gives it."""
    shaped: bool = False
    """A line quoted as it stands, indentation and all, never joined with its neighbours."""
    header: str | None = None
    """For a Markdown table's row: the table's header row, which says what the columns are."""


_NUMBERED_LOCATION = re.compile(r"(lines?|rows?) (\d+)(?:-\d+)?")
_TABLE_RULE = re.compile(r"\|?[ \t]*:?-{3,}")


def _quote_units(text: str, location: str) -> list[_Unit]:
    """A passage cut into what may be quoted: sentences of prose; lines of code, YAML, Markdown tables
    and CSV rows one by one, numbered when the location numbers them (`lines 12-40`, `rows 2-41`)."""
    numbered = _NUMBERED_LOCATION.fullmatch(location)
    if numbered:
        first = int(numbered.group(2))
        if numbered.group(1).startswith("line"):
            return [_Unit(line.rstrip(), first + i, True) for i, line in enumerate(text.split("\n")) if line.strip()]
        return [_Unit(row.strip(), first + i, True) for i, row in enumerate(text.split("\n\n")) if row.strip()]
    if "```" not in text and "~~~" not in text and "|" not in text:
        return [_Unit(sentence) for sentence in split_sentences(text)]
    units: list[_Unit] = []
    prose: list[str] = []
    in_fence = False
    header: str | None = None  # the first row of the table being read

    def flush() -> None:
        if prose:
            units.extend(_Unit(sentence) for sentence in split_sentences("\n".join(prose)))
            prose.clear()

    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            flush()
            in_fence = not in_fence
        elif in_fence:
            if stripped:
                units.append(_Unit(line.rstrip(), shaped=True))
        elif stripped.startswith("|"):
            flush()
            if header is None:
                header = stripped
                units.append(_Unit(stripped, shaped=True))
            elif not _TABLE_RULE.match(stripped):
                units.append(_Unit(stripped, shaped=True, header=header))
            continue
        else:
            prose.append(line)
        header = None
    flush()
    return units


def _normalized(text: str) -> str:
    return " ".join(text.split()).casefold()


def _distinct(passages: Sequence[Passage]) -> list[Passage]:
    """Passages without repeats: the same chunk twice, or a chunk whose text another one already holds."""
    kept: list[Passage] = []
    texts: list[str] = []
    for passage in passages:
        text = _normalized(passage.chunk.text)
        if any(text in earlier for earlier in texts):
            continue
        kept.append(passage)
        texts.append(text)
    return kept


def _quoted_location(passage: Passage, units: Sequence[_Unit]) -> str:
    """The passage's location, narrowed to the lines or rows quoted from it (`lines 12-40` -> `line 14`)."""
    location = passage.chunk.location
    numbered = _NUMBERED_LOCATION.fullmatch(location)
    numbers = [u.number for u in units if u.number is not None]
    if numbered is None or len(numbers) != len(units) or not numbers:
        return location
    word = "line" if numbered.group(1).startswith("line") else "row"
    low, high = min(numbers), max(numbers)
    return f"{word} {low}" if low == high else f"{word}s {low}-{high}"


@dataclass(frozen=True, slots=True)
class _Candidate:
    score: float
    coverage: float
    p_index: int
    u_index: int
    unit: _Unit
    matched: frozenset[str]
    """The question's terms the unit (with its passage's title and headings) contains."""
    strength: int = 2
    """How clearly the unit holds an answer of the kind asked (`agent.answerability.kind_strength`)."""


def _render_quotes(chosen: Sequence[_Candidate], numbers: dict[int, int]) -> list[str]:
    """Prose as `> sentence [n]`; lines of code, YAML and tables in a fenced block, line by line with
    their numbers, the citation mark under the block."""
    lines: list[str] = []
    index = 0
    while index < len(chosen):
        candidate = chosen[index]
        number = numbers[candidate.p_index]
        if not candidate.unit.shaped:
            lines.append(f"> {' '.join(candidate.unit.text.split())} [{number}]")
            index += 1
            continue
        group = [candidate]
        while (index + len(group) < len(chosen) and chosen[index + len(group)].unit.shaped
               and chosen[index + len(group)].p_index == candidate.p_index):
            group.append(chosen[index + len(group)])
        index += len(group)
        width = max((len(str(c.unit.number)) for c in group if c.unit.number is not None), default=0)
        block: list[str] = []
        for member in group:
            header = member.unit.header
            if header is not None and header not in block:
                block.append(header)
            prefix = f"{member.unit.number:>{width}}  " if member.unit.number is not None else ""
            if member.unit.text not in block:
                block.append(prefix + member.unit.text)
        lines.extend(["```", *block, "```", f"[{number}]"])
    return lines


async def extract_answer(state: AgentState, runtime: Runtime[AgentContext]) -> AgentState:
    """Without a model: quote the sentences (or lines) that best answer the question, with citations.

    Each passage is quoted at most once, and a source beside the first is cited only when what is
    quoted from it answers on its own: it covers as much of the question as the relevance bar asks
    and close to what the best quote covers. A line of a table or of code is held to the same bar,
    so "the primary for Mobile" quotes the Mobile row, not every row beside it.
    """
    context = runtime.context
    # Tuned on the dev splits of SQuAD and KorQuAD (docs/benchmarks.md).
    rank_penalty = 0.3  # per passage rank: the reranker's first passage usually holds the answer
    second_share = 0.25  # a second sentence is quoted if it scores at least this share of the best
    source_share = 0.5  # another source's quote must cover at least this share of what the best quote covers
    # Rows of a table and lines of code are alternatives more than a continuation: "the primary for
    # Mobile" is the Mobile row, not the Data row that shares "primary" and "team".
    line_share = 0.75
    passages = _distinct(_relevant(state["passages"], context.min_relevance))[:3]
    # Of a message that states something and asks, the question sentences are what is asked: "We deploy
    # from main. How do I roll back a deploy?" quotes the rollback, not the sentence about main. The
    # statements count only where the question points back at them ("… How do I back it up?").
    question = question_text(state["question"])
    asked = asked_part(question)
    terms = query_terms(asked.text if asked and not asked.refers_back else state["search_query"])
    question_terms = set(query_terms(asked.text if asked and asked.words else question))
    idf = await context.retriever.index.idf(terms, state["scopes"])
    # "When ...?" is answered by a sentence with a time in it, "how many" by one with a number:
    # other sentences are not quoted, however many of the question's words they share.
    kind = AnswerKind(state["answer_kind"]) if state.get("answer_kind") else None

    scored: list[_Candidate] = []
    for p_index, passage in enumerate(passages):
        # A section's title and heading speak for each of its sentences, as they do for the chunk in
        # the index: under "Permissions", "Admins may add documents everywhere." is about permissions.
        named = list(heading_terms(passage.chunk.title, passage.chunk.location))
        for u_index, unit in enumerate(_quote_units(passage.chunk.text, passage.chunk.location)):
            strength = kind_strength(kind, unit.text, question=state["question"])
            if not strength:
                continue
            unit_terms = lexical_tokens(unit.text) + named
            base = coverage(terms, unit_terms, idf)
            # The question's own words weigh more than words carried over from earlier turns.
            own = coverage(list(question_terms), unit_terms, idf) if question_terms else 0.0
            # Earlier passages are better ranked (the reranker's first passage is usually the one);
            # prefer their sentences unless a later passage matches clearly better.
            scored.append(_Candidate(base + own - rank_penalty * p_index, own if question_terms else base,
                                     p_index, u_index, unit, frozenset(question_terms or terms) & set(unit_terms),
                                     strength))
    # Of the sentences of that kind that speak to the question, the ones that say it most clearly:
    # for "who is on call for the Platform team?" the row that names Ada Kim, not the sentence that
    # mentions "the engineering manager".
    clearest = max((c.strength for c in scored if c.coverage >= context.min_relevance), default=0)
    scored = [c for c in scored if c.strength >= clearest]
    scored.sort(key=lambda item: item.score, reverse=True)
    if not scored or scored[0].score <= 0:
        return await decline(state)
    best = scored[0]
    chosen = [best]
    seen = {_normalized(best.unit.text)}
    source_bar = max(context.min_relevance, source_share * best.coverage)
    # When the best quote holds every word of the question, another source must hold its most specific
    # one ("Data" in "who is on call for the Data team?"): without it, it speaks of something else
    # ("the on-call rotation"). A best quote that misses words may have missed the answer: then
    # another source is weighed by coverage alone.
    key_term = max(best.matched, key=lambda t: idf.get(t, 0.0), default=None) if best.coverage >= 0.999 else None
    line_bar = max(context.min_relevance, line_share * best.coverage)
    for candidate in scored[1:]:
        if len(chosen) >= context.max_quote_sentences or candidate.score < second_share * best.score:
            break
        key = _normalized(candidate.unit.text)
        if key in seen:
            continue  # the same words again, from an overlapping chunk or a copy
        new_source = all(c.p_index != candidate.p_index for c in chosen)
        if new_source and (candidate.coverage < source_bar or (key_term and key_term not in candidate.matched)):
            continue
        if candidate.unit.shaped and candidate.coverage < line_bar:
            continue
        chosen.append(candidate)
        seen.add(key)
    chosen.sort(key=lambda item: (item.p_index, item.u_index))  # read in document order

    numbers: dict[int, int] = {}
    for candidate in chosen:
        numbers.setdefault(candidate.p_index, len(numbers) + 1)
    lines = _render_quotes(chosen, numbers)
    from_thread = all(passages[c.p_index].chunk.source == THREAD_SOURCE for c in chosen)
    korean = _is_korean(state["question"])
    note = state["fallback_note"] if "fallback_note" in state else (
        (prompts.NO_MODEL_THREAD_NOTE_KO if korean else prompts.NO_MODEL_THREAD_NOTE) if from_thread
        else (prompts.NO_MODEL_NOTE_KO if korean else prompts.NO_MODEL_NOTE))
    answer = "\n".join(lines) + ("\n\n" + note if note else "")
    citations = []
    for p_index, number in numbers.items():
        units = [c.unit for c in chosen if c.p_index == p_index]
        joiner = "\n" if any(u.shaped for u in units) else " "
        citation = _citation(number, passages[p_index], joiner.join(u.text for u in units))
        citations.append(replace(citation, location=_quoted_location(passages[p_index], units)))
    return {"answer": answer, "citations": citations, "answered": True, "mode": "extractive"}


async def decline(state: AgentState) -> AgentState:
    """Say plainly that the documents do not answer this, rather than guessing."""
    text = prompts.DONT_KNOW_KO if _is_korean(state["question"]) else prompts.DONT_KNOW
    return {"answer": text, "citations": [], "answered": False, "mode": "none"}
