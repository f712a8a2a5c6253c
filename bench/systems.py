"""The two systems measured side by side: ours (teambot's own pipeline) and the naive baseline.

Ours goes through the real code: `KnowledgeBase.ingest` (parse, chunk, embed, store in Chroma, the
SQLite catalog and its term index), `HybridRetriever.retrieve`, and the agent graph in extractive mode.

The baseline is what a typical tutorial bot does: `RecursiveCharacterTextSplitter(1000, 200)`,
the same WordLlama embeddings, Chroma (cosine), dense-only top-k, no lexical index. Without a
model it replies with its best chunk.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import Sequence
from pathlib import Path

import chromadb
from langchain_text_splitters import RecursiveCharacterTextSplitter

from agent.catalog import Catalog
from agent.chroma_store import ChromaStore
from agent.embeddings import WordLlamaEmbedder
from agent.graph import build_graph
from agent.lexical_search import LexicalSearch
from agent.retrieval import HybridRetriever
from agent.state import AgentContext
from agent.term_sync import TermIndexSync
from agent.write_behind import WriteBehindVectorStore
from bench.datasets import Passage
from bot.core.values import Scope
from bot.knowledge import IngestLimits, KnowledgeBase, document_id
from bot.parsers import ParseLimits
from bot.settings import Settings

SCOPE = Scope("bench", "workspace", "channel")


def settings_default(name: str):
    return Settings.model_fields[name].default


def file_name(passage: Passage) -> str:
    """A file name per passage: neutral for SQuAD paragraphs, the page path for doc links."""
    if passage.id.startswith("http"):
        path = re.sub(r"^https?://[^/]+/(en/)?", "", passage.id)
        return re.sub(r"[^A-Za-z0-9-]+", "_", path).strip("_")[:150] + ".txt"
    return f"{passage.id}.txt"


class Ours:
    name = "ours"

    def __init__(self, workdir: Path, embedder: WordLlamaEmbedder) -> None:
        self.embedder = embedder
        self.catalog = Catalog(workdir / "ours.sqlite3")
        self.terms = TermIndexSync.beside(self.catalog)
        chroma = ChromaStore.persistent(workdir / "chroma-ours", embedder_name=embedder.name)
        self.vectors = WriteBehindVectorStore(chroma)
        extra: dict[str, object] = {}
        if "sandbox" in inspect.signature(KnowledgeBase.__init__).parameters:
            from bot.sandbox import ParserSandbox  # noqa: PLC0415 - only where the code base has one

            extra["sandbox"] = self.sandbox = ParserSandbox(timeout_s=120, memory_bytes=2**30)
        self.knowledge = KnowledgeBase(
            catalog=self.catalog, terms=self.terms, vectors=self.vectors, embedder=embedder,
            chunk_size=settings_default("chunk_size"), chunk_overlap=settings_default("chunk_overlap"),
            limits=IngestLimits(max_bytes=50 * 2**20, max_chunks=20000, parse=ParseLimits()), **extra,
        )
        lexical = LexicalSearch(catalog=self.catalog, terms=self.terms)
        self.retriever = HybridRetriever(index=lexical, vectors=self.vectors, embedder=embedder)
        self.context = AgentContext(
            retriever=self.retriever, chat_model=None, top_k=settings_default("top_k"),
            min_relevance=settings_default("min_relevance"),
        )
        self.graph = build_graph()
        self.passage_of_document: dict[str, str] = {}
        self.chunks = 0

    async def ingest(self, passages: Sequence[Passage], *, concurrency: int = 4) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(passage: Passage) -> None:
            name = file_name(passage)
            self.passage_of_document[document_id(SCOPE, name)] = passage.id
            async with gate:
                result = await self.knowledge.ingest(
                    name=name, data=passage.text.encode("utf-8"), scope=SCOPE, uploader="bench"
                )
            self.chunks += result.document.chunk_count

        await asyncio.gather(*(one(p) for p in passages))

    async def ranked(self, question: str, k: int) -> list[str]:
        passages = await self.retriever.retrieve(question, [SCOPE], k=k)
        return [self.passage_of_document[p.chunk.document_id] for p in passages]

    async def reply(self, question: str) -> str:
        return (await self.answer(question))[0]

    async def answer(self, question: str) -> tuple[str, bool]:
        """The reply shown to the user, and whether it answers (False: the bot declined)."""
        state = await self.graph.ainvoke(
            {"question": question, "history": [], "scopes": [SCOPE]}, context=self.context
        )
        return str(state.get("answer", "")), bool(state.get("answered"))

    async def aclose(self) -> None:
        await self.vectors.aclose()
        await self.terms.aclose()
        await self.catalog.aclose()
        sandbox = getattr(self, "sandbox", None)
        if sandbox is not None:
            sandbox.close()


class Baseline:
    name = "baseline"

    def __init__(self, workdir: Path, embedder: WordLlamaEmbedder) -> None:
        self.embedder = embedder
        self.splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        client = chromadb.PersistentClient(
            path=str(workdir / "chroma-baseline"), settings=chromadb.Settings(anonymized_telemetry=False)
        )
        self.collection = client.get_or_create_collection(
            "baseline", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        self.max_batch = min(5000, client.get_max_batch_size())
        self.chunks = 0

    def _ingest(self, passages: Sequence[Passage]) -> None:
        ids, texts, metadatas = [], [], []
        for passage in passages:
            for n, piece in enumerate(self.splitter.split_text(passage.text)):
                ids.append(f"{passage.id}#{n}")
                texts.append(piece)
                metadatas.append({"passage": passage.id})
        vectors = self.embedder._embed(texts)
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            self.collection.add(ids=ids[start:end], embeddings=vectors[start:end], documents=texts[start:end],
                                metadatas=metadatas[start:end])
        self.chunks = len(ids)

    async def ingest(self, passages: Sequence[Passage]) -> None:
        await asyncio.to_thread(self._ingest, passages)

    def _query(self, question: str, k: int) -> tuple[list[str], list[str]]:
        vector = self.embedder._embed([question])[0]
        result = self.collection.query(query_embeddings=[vector], n_results=k, include=["metadatas", "documents"])
        return [m["passage"] for m in result["metadatas"][0]], list(result["documents"][0])

    async def ranked(self, question: str, k: int) -> list[str]:
        return (await asyncio.to_thread(self._query, question, k))[0]

    async def reply(self, question: str) -> str:
        documents = (await asyncio.to_thread(self._query, question, 1))[1]
        return documents[0] if documents else ""

    async def answer(self, question: str) -> tuple[str, bool]:
        """The best chunk; the baseline never declines while it has any chunk at all."""
        text = await self.reply(question)
        return text, bool(text)

    async def aclose(self) -> None:
        pass


def timed() -> float:
    return time.perf_counter()
