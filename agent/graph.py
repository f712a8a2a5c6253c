"""The agent as a diagram:

    START -> condense_question -> retrieve -> judge_answerability -+-> generate_answer -> END  (a model is configured)
                                    ^                              +-> extract_answer  -> END  (no model: quote)
                                    |                              +-> decline         -> END  (nothing answers)
                                    |                              +-> broaden_with_history -+ (nothing answers,
                                    +--------------------------------------------------------+  first try in a
                                                                                                thread with history)

`retrieve` also weighs the messages of the thread the question was asked in, as passages scored like
the documents' (agent/thread.py). `judge_answerability` keeps only the passages that answer
(agent/answerability.py): both answers see only those.
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent import nodes
from agent.state import AgentContext, AgentState


def build_graph() -> CompiledStateGraph[AgentState, AgentContext, AgentState, AgentState]:
    """Compile the question-answering graph; dependencies arrive per run as `AgentContext`."""
    builder = StateGraph(AgentState, context_schema=AgentContext)
    builder.add_node("condense_question", nodes.condense_question)
    builder.add_node("retrieve", nodes.retrieve)
    builder.add_node("judge_answerability", nodes.judge_answerability)
    builder.add_node("generate_answer", nodes.generate_answer)
    builder.add_node("extract_answer", nodes.extract_answer)
    builder.add_node("decline", nodes.decline)
    builder.add_node("broaden_with_history", nodes.broaden_with_history)

    builder.add_edge(START, "condense_question")
    builder.add_edge("condense_question", "retrieve")
    builder.add_edge("retrieve", "judge_answerability")
    builder.add_conditional_edges("judge_answerability", nodes.route_after_judgement)
    builder.add_edge("broaden_with_history", "retrieve")
    builder.add_edge("generate_answer", END)
    builder.add_edge("extract_answer", END)
    builder.add_edge("decline", END)
    return builder.compile()
