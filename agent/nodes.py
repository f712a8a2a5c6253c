"""The agent's nodes: each is a verb that reads the state and returns what it changes."""

from __future__ import annotations

import re
from typing import Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime, get_runtime

from agent import prompts
from agent.records import Passage
from agent.retrieval import coverage, hangul_share, heading_terms
from agent.state import AgentContext, AgentState
from agent.text import lexical_tokens, split_sentences
from bot.events import Citation

_CITATION_MARK = re.compile(r"\[(\d{1,2})\]")
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
    )


async def condense_question(state: AgentState, runtime: Runtime[AgentContext]) -> AgentState:
    """With a model, rewrite a follow-up into a standalone query using the thread's history."""
    question = state["question"]
    history = state.get("history") or []
    model = runtime.context.chat_model
    if history and model is not None:
        try:
            response = await model.ainvoke(
                [SystemMessage(prompts.CONDENSE_SYSTEM), *_history_messages(state, turns=3), HumanMessage(question)]
            )
            rewritten = str(response.content).strip()
            if rewritten:
                return {"search_query": rewritten, "broadened": False}
        except Exception:  # noqa: BLE001 - rewriting is an optimisation; the question alone still works
            pass
    return {"search_query": question, "broadened": False}


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
    if state.get("broadened"):
        # The earlier question only helps find the topic: a passage must still speak to
        # this question's own words, or "what is the capital of Peru?" would get the last answer again.
        own_terms = lexical_tokens(state["question"])
        idf = await retriever.index.idf(own_terms, state["scopes"])
        passages = [
            p for p in passages
            if coverage(own_terms, p.chunk.index_terms(), idf) >= context.min_relevance / 2
        ]
    return {"passages": passages}


def route_after_retrieval(
    state: AgentState,
) -> Literal["generate_answer", "extract_answer", "broaden_with_history", "decline"]:
    """Answer with the model or extractively; if nothing is relevant, broaden once, then decline."""
    context = get_runtime(AgentContext).context
    passages = state.get("passages") or []
    if not passages or max(p.coverage for p in passages) < context.min_relevance:
        if state.get("history") and not state.get("broadened"):
            return "broaden_with_history"
        return "decline"
    return "generate_answer" if context.chat_model is not None else "extract_answer"


def _relevant(passages: list[Passage], min_relevance: float) -> list[Passage]:
    return [p for p in passages if p.coverage >= min_relevance]


def _format_sources(passages: list[Passage]) -> str:
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
    return "\n\n".join(entries)


async def generate_answer(state: AgentState, runtime: Runtime[AgentContext]) -> AgentState:
    """Answer with the model, grounded in the numbered passages, streaming tokens as they come."""
    context = runtime.context
    passages = state["passages"]
    messages = [
        SystemMessage(prompts.ANSWER_SYSTEM.format(sources=_format_sources(passages))),
        *_history_messages(state),
        HumanMessage(state["question"]),
    ]
    parts: list[str] = []
    usage: dict[str, int] = {}
    async for chunk in context.chat_model.astream(messages):  # type: ignore[union-attr]
        delta = chunk.content if isinstance(chunk.content, str) else ""
        if delta:
            parts.append(delta)
            runtime.stream_writer({"delta": delta})
        if getattr(chunk, "usage_metadata", None):
            usage = {
                "input_tokens": chunk.usage_metadata.get("input_tokens", 0),
                "output_tokens": chunk.usage_metadata.get("output_tokens", 0),
            }
    answer = "".join(parts).strip()
    cited = [int(n) for n in _CITATION_MARK.findall(answer) if 1 <= int(n) <= len(passages)]
    numbers = list(dict.fromkeys(cited)) or list(range(1, min(3, len(passages)) + 1))
    citations = [_citation(n, passages[n - 1]) for n in sorted(numbers)]
    return {"answer": answer, "citations": citations, "answered": True, "mode": "llm", "usage": usage}


async def extract_answer(state: AgentState, runtime: Runtime[AgentContext]) -> AgentState:
    """Without a model: quote the sentences that best answer the question, with citations."""
    context = runtime.context
    # Tuned on the dev splits of SQuAD and KorQuAD (docs/benchmarks.md).
    rank_penalty = 0.3  # per passage rank: the reranker's first passage usually holds the answer
    second_share = 0.25  # a second sentence is quoted if it scores at least this share of the best
    passages = _relevant(state["passages"], context.min_relevance)[:3]
    terms = lexical_tokens(state["search_query"])
    question_terms = set(lexical_tokens(state["question"]))
    idf = await context.retriever.index.idf(terms, state["scopes"])

    scored: list[tuple[float, int, int, str]] = []  # (score, passage index, sentence index, sentence)
    for p_index, passage in enumerate(passages):
        # A section's title and heading speak for each of its sentences, as they do for the chunk in
        # the index: under "Permissions", "Admins may add documents everywhere." is about permissions.
        named = list(heading_terms(passage.chunk.title, passage.chunk.location))
        for s_index, sentence in enumerate(split_sentences(passage.chunk.text)):
            sentence_terms = lexical_tokens(sentence) + named
            base = coverage(terms, sentence_terms, idf)
            # The question's own words weigh more than words carried over from earlier turns.
            own = coverage(list(question_terms), sentence_terms, idf) if question_terms else 0.0
            # Earlier passages are better ranked (the reranker's first passage is usually the one);
            # prefer their sentences unless a later passage matches clearly better.
            scored.append((base + own - rank_penalty * p_index, p_index, s_index, sentence))
    scored.sort(key=lambda item: item[0], reverse=True)
    if not scored or scored[0][0] <= 0:
        return await decline(state)
    chosen = [scored[0]]
    for candidate in scored[1:]:
        if len(chosen) >= context.max_quote_sentences:
            break
        if candidate[0] >= second_share * scored[0][0]:
            chosen.append(candidate)
    chosen.sort(key=lambda item: (item[1], item[2]))  # read in document order

    numbers: dict[int, int] = {}
    lines = []
    for _, p_index, _, sentence in chosen:
        number = numbers.setdefault(p_index, len(numbers) + 1)
        lines.append(f"> {' '.join(sentence.split())} [{number}]")
    note = prompts.NO_MODEL_NOTE_KO if _is_korean(state["question"]) else prompts.NO_MODEL_NOTE
    answer = "\n".join(lines) + "\n\n" + note
    citations = [
        _citation(number, passages[p_index], " ".join(s for _, pi, _, s in chosen if pi == p_index))
        for p_index, number in numbers.items()
    ]
    return {"answer": answer, "citations": citations, "answered": True, "mode": "extractive"}


async def decline(state: AgentState) -> AgentState:
    """Say plainly that the documents do not answer this, rather than guessing."""
    text = prompts.DONT_KNOW_KO if _is_korean(state["question"]) else prompts.DONT_KNOW
    return {"answer": text, "citations": [], "answered": False, "mode": "none"}
