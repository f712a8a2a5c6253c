"""Wiring: build every part from settings once, hand them out, close them in order.

    async with Teambot(settings) as teambot:
        await teambot.dispatcher.handle(message, stream)
"""

from __future__ import annotations

import asyncio
import gc
import logging
from contextlib import AsyncExitStack
from typing import Any

import redis.asyncio as aioredis

from agent.answerability import AnswerabilityRules
from agent.catalog import Catalog
from agent.chroma_store import ChromaStore
from agent.embeddings import Embedder, OpenAICompatibleEmbedder, WordLlamaEmbedder
from agent.graph import build_graph
from agent.lexical_search import LexicalSearch
from agent.llm import build_chat_model, build_model_http_client
from agent.retrieval import HybridRetriever
from agent.state import AgentContext
from agent.summary import summarize_thread
from agent.term_sync import TermIndexSync
from agent.write_behind import WriteBehindVectorStore
from bot.claims import Claims
from bot.commands import Commands
from bot.core.visibility import Permissions
from bot.dispatcher import Dispatcher
from bot.feedback import RedisFeedback
from bot.history import RedisHistory
from bot.knowledge import IngestLimits, KnowledgeBase
from bot.observability import Metrics
from bot.parsers import ParseLimits
from bot.redis_server import EmbeddedRedis
from bot.reports.stats import UsageStats
from bot.sandbox import ParserSandbox
from bot.settings import Settings, prepare_data_dir
from bot.suggestions import PromptSuggestions
from bot.usage import RedisUsage

log = logging.getLogger(__name__)


def _endpoint(settings: Settings, http_client: Any) -> dict[str, Any]:
    """How to reach the OpenAI-compatible endpoint, as the agent's builders take it (plain values)."""
    return {
        "api_key": settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
        "base_url": settings.openai_base_url,
        "timeout_s": settings.model_timeout_s,
        "max_retries": settings.model_max_retries,
        "http_client": http_client,
    }


def build_embedder(settings: Settings, *, http_client: Any = None) -> Embedder:
    """The configured embedding endpoint, or the bundled offline model."""
    if settings.embedding_model:
        return OpenAICompatibleEmbedder(model=settings.embedding_model, **_endpoint(settings, http_client))
    return WordLlamaEmbedder()


def build_configured_chat_model(settings: Settings, *, http_client: Any = None) -> Any | None:
    """The configured chat model (see `agent.llm.build_chat_model`), or None without one."""
    return build_chat_model(model=settings.chat_model, temperature=settings.temperature,
                            **_endpoint(settings, http_client))


class Teambot:
    """The running core: stores, knowledge base, agent and dispatcher, shared by every adapter."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        #: The redis-server this core started and supervises (None with `REDIS_URL`).
        self.embedded_redis: EmbeddedRedis | None = None
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Teambot:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        settings = self.settings
        data_dir = await asyncio.to_thread(prepare_data_dir, settings)

        redis_url = settings.redis_url
        if redis_url is None:
            self.embedded_redis = await self._stack.enter_async_context(
                EmbeddedRedis(data_dir / "redis", ready_timeout_s=settings.redis_start_timeout_s)
            )
            redis_url = self.embedded_redis.url
        # A small pool that callers wait on: every Redis call is sub-millisecond, so a burst of
        # questions shares a dozen connections instead of each opening (and handshaking) its own.
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_url, max_connections=16, timeout=5, socket_connect_timeout=2, socket_timeout=3,
            health_check_interval=30,
        )
        self.redis = aioredis.Redis.from_pool(pool)  # the client owns the pool and closes it
        self._stack.push_async_callback(self.redis.aclose)

        model_http_client = None
        if settings.model_configured or settings.embedding_model:
            model_http_client = build_model_http_client()
            self._stack.push_async_callback(model_http_client.aclose)
        self.embedder = await asyncio.to_thread(build_embedder, settings, http_client=model_http_client)
        self.catalog = await self._stack.enter_async_context(
            Catalog(data_dir / f"knowledge-{self.embedder.name}.sqlite3")
        )
        # Entered after the catalog, so closing finishes the term index's sync while the catalog is open.
        self.terms = await self._stack.enter_async_context(TermIndexSync.beside(self.catalog))
        self.lexical = LexicalSearch(catalog=self.catalog, terms=self.terms)
        if settings.chroma_host:
            chroma = await asyncio.to_thread(
                ChromaStore.remote, settings.chroma_host, settings.chroma_port,
                ssl=settings.chroma_ssl, embedder_name=self.embedder.name,
            )
        else:
            chroma = await asyncio.to_thread(ChromaStore.persistent, data_dir / "chroma",
                                             embedder_name=self.embedder.name)
        # Entered after the catalog, so closing waits for queued vector writes while the catalog
        # can still record them done.
        self.vectors = await self._stack.enter_async_context(
            WriteBehindVectorStore(chroma, on_written=self.catalog.forget_vector_writes)
        )

        self.metrics = Metrics()
        self.metrics.vector_writes_queued.set_function(lambda: self.vectors.queued_documents)
        self.permissions = Permissions.from_entries(admins=settings.admins, uploaders=settings.uploaders)
        sandbox = ParserSandbox(timeout_s=settings.parse_timeout_s, memory_bytes=settings.parse_memory_mb * 1048576,
                                workers=settings.parse_workers)
        self._stack.callback(sandbox.close)
        self.knowledge = KnowledgeBase(
            metrics=self.metrics,
            sandbox=sandbox,
            catalog=self.catalog, terms=self.terms, vectors=self.vectors, embedder=self.embedder,
            chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap,
            limits=IngestLimits(
                max_bytes=settings.max_upload_bytes,
                max_chunks=settings.max_chunks_per_document,
                parse=ParseLimits(max_pages=settings.max_pages,
                                  max_unzipped_bytes=settings.max_unzipped_mb * 1048576,
                                  max_extracted_chars=settings.max_extracted_chars),
            ),
        )
        resumed = await self.knowledge.resume()
        if resumed:
            log.info("writing vectors a previous run left owed", extra={"documents": resumed})
        self.retriever = HybridRetriever(index=self.lexical, vectors=self.vectors, embedder=self.embedder)
        self.history = RedisHistory(self.redis, max_turns=settings.history_max_turns, ttl_s=settings.history_ttl_s)
        self.usage = RedisUsage.from_settings(self.redis, settings)
        #: Answers kept to be rated, and the votes on them.
        self.feedback = RedisFeedback.from_settings(self.redis, settings)
        self.agent_context = AgentContext(
            retriever=self.retriever,
            chat_model=build_configured_chat_model(settings, http_client=model_http_client),
            top_k=settings.top_k,
            min_relevance=settings.min_relevance,
            answerability=AnswerabilityRules().calibrated(self.embedder.name, settings.answer_similarity_neutral),
            max_answer_tokens=settings.max_answer_tokens,
            max_condense_tokens=settings.max_condense_tokens,
            context_tokens=settings.model_context_tokens,
        )
        self.dispatcher = Dispatcher(
            graph=build_graph(), context=self.agent_context, history=self.history, usage=self.usage,
            metrics=self.metrics, log_message_text=settings.log_message_text, answers=self.feedback,
            summarizer=summarize_thread,
        )
        #: Every chat command, once; adapters call it and only render.
        self.commands = Commands(knowledge=self.knowledge, usage=self.usage, permissions=self.permissions,
                                 dispatcher=self.dispatcher, feedback=self.feedback,
                                 usage_stats=UsageStats(self.usage, feedback=self.feedback),
                                 suggestions=PromptSuggestions(knowledge=self.knowledge, usage=self.usage))
        #: Answer-once claims and the threads the bot owns, for every platform.
        self.claims = Claims(self.redis)
        # The core's objects (models, clients, modules: about 250k of them) live as long as the
        # process. Frozen, the collector stops rescanning them on every full collection, which
        # under a burst of questions had been about a tenth of the event loop's time. (No collection
        # first: it would take 0.2 s per start, and startup leaves little cyclic garbage to keep.)
        gc.freeze()
        self._stack.callback(gc.unfreeze)
