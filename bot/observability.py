"""Readiness checks, Prometheus metrics and structured logs (`adapters.http.health` serves the first two).

Metrics live in a registry owned by each `Teambot` (not the process-global
one), so several cores in one process — tests, mostly — never share counters.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import ClientSession, ClientTimeout
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

if TYPE_CHECKING:
    from bot.app import Teambot

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")


def new_correlation_id(event_id: str | None = None) -> str:
    """Set (and return) the id every log line of this event carries."""
    value = event_id or uuid.uuid4().hex[:12]
    correlation_id.set(value)
    return value


KNOWN_PLATFORMS = frozenset({"slack", "discord", "console", "api", "fake"})
"""Platforms that get their own `platform` label; any other name is counted as `OTHER_LABEL`."""
OTHER_LABEL = "other"


def bounded_label(value: str, known: frozenset[str]) -> str:
    """`value` if it is one of `known`, else "other".

    Every label value is a time series kept for the life of the process: a value taken from
    a request (the HTTP API lets callers name any `platform`) would let callers grow /metrics
    and the process's memory without bound. (`outcome`, `kind` and `direction` come from our
    own code, never from a request.)
    """
    return value if value in known else OTHER_LABEL


class Metrics:
    """The bot's Prometheus metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.questions = Counter(
            "teambot_questions", "Questions answered, by platform and outcome (answered, unanswered, error).",
            ["platform", "outcome"], registry=self.registry,
        )
        self.answer_seconds = Histogram(
            "teambot_answer_seconds", "Time from the incoming message to the final reply.", ["platform"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80), registry=self.registry,
        )
        self.first_token_seconds = Histogram(
            "teambot_first_token_seconds", "Time from the incoming message to the first visible text.", ["platform"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20), registry=self.registry,
        )
        self.model_tokens = Counter(
            "teambot_model_tokens", "Tokens reported by the model.", ["direction"], registry=self.registry,
        )
        self.errors = Counter("teambot_errors", "Failures by kind.", ["kind"], registry=self.registry)
        self.ingested_documents = Counter(
            "teambot_ingested_documents", "Documents added or replaced.", registry=self.registry,
        )
        self.ingested_chunks = Counter("teambot_ingested_chunks", "Chunks stored.", registry=self.registry)
        self.vector_writes_queued = Gauge(
            "teambot_vector_writes_queued",
            "Documents whose vectors wait to be written to Chroma (growing while Chroma fails).",
            registry=self.registry,
        )
        self.ingest_failures = Counter(
            "teambot_ingest_failures", "Files refused or failed during ingestion.", registry=self.registry,
        )

    def observe_answer(self, *, platform: str, outcome: str, total_s: float, first_token_s: float | None,
                       input_tokens: int, output_tokens: int, error_kind: str | None) -> None:
        platform = bounded_label(platform, KNOWN_PLATFORMS)
        self.questions.labels(platform, outcome).inc()
        self.answer_seconds.labels(platform).observe(total_s)
        if first_token_s is not None:
            self.first_token_seconds.labels(platform).observe(first_token_s)
        self.model_tokens.labels("input").inc(input_tokens)
        self.model_tokens.labels("output").inc(output_tokens)
        if error_kind:
            self.errors.labels(error_kind).inc()

    def observe_ingest(self, *, chunks: int | None) -> None:
        """`chunks=None` records a failure."""
        if chunks is None:
            self.ingest_failures.inc()
        else:
            self.ingested_documents.inc()
            self.ingested_chunks.inc(chunks)

    def render(self) -> bytes:
        return generate_latest(self.registry)


async def check_readiness(teambot: Teambot, *, timeout_s: float = 2.0) -> dict[str, str]:
    """`{"redis": "ok" | reason, "chroma": ..., "model": ...}`, checked concurrently."""

    async def redis() -> str:
        embedded = getattr(teambot, "embedded_redis", None)
        if embedded is not None and embedded.status != "running":
            return f"unavailable (embedded redis-server {embedded.status}, restarts: {embedded.restarts})"
        await asyncio.wait_for(teambot.redis.ping(), timeout_s)
        return "ok"

    async def chroma() -> str:
        await asyncio.wait_for(teambot.vectors.ping(), timeout_s)
        return "ok"

    async def model() -> str:
        settings = teambot.settings
        if not settings.model_configured:
            return "not configured (extractive answers)"
        base = settings.openai_base_url or "https://api.openai.com/v1"
        headers = {}
        if settings.openai_api_key is not None:
            headers["Authorization"] = f"Bearer {settings.openai_api_key.get_secret_value()}"
        async with ClientSession(timeout=ClientTimeout(total=timeout_s)) as session:
            async with session.get(f"{base}/models", headers=headers) as response:
                # Any HTTP answer but a server error means the endpoint is up and routing.
                return "ok" if response.status < 500 else f"HTTP {response.status}"

    names = ("redis", "chroma", "model")
    results = await asyncio.gather(redis(), chroma(), model(), return_exceptions=True)
    return {
        name: result if isinstance(result, str) else f"unavailable ({type(result).__name__})"
        for name, result in zip(names, results, strict=True)
    }


# --- logs ---------------------------------------------------------------------------------

_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the event's correlation id and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": correlation_id.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        # `exc_text` first: it is the traceback as `RedactSecrets` left it.
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


class RedactSecrets(logging.Filter):
    """Replace every configured secret with *** wherever it appears in a log line: the message,
    `extra` fields, the traceback (exception messages and chained causes included) and the stack.

    The record keeps its `exc_info`: the redacted traceback goes in `exc_text`, which formatters
    print instead of formatting the exception again, so an error line still shows its cause.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad log call: the handler reports it, never the caller
            message = None
        if message is not None:
            redacted = self._redact(message)
            if redacted != message:
                record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key in _STANDARD_ATTRIBUTES or key.startswith("_") or isinstance(value, (int, float, bool, type(None))):
                continue
            text = value if isinstance(value, str) else repr(value)
            redacted = self._redact(text)
            if redacted != text:
                setattr(record, key, redacted)
        return True


OWN_LOGGERS = ("bot", "adapters", "agent")
"""teambot's own packages: they log message text only when `TEAMBOT_LOG_MESSAGE_TEXT` allows it."""

LIBRARY_LOGGERS = (
    "slack_sdk", "slack_bolt", "teambot.slack.bolt", "discord", "aiohttp", "websockets", "httpx", "httpcore",
    "openai", "urllib3", "chromadb", "langchain", "langgraph", "redis", "asyncio",
)
"""Third-party loggers known to log request and response bodies (or gateway events) at DEBUG."""


class OnlyOwnDebug(logging.Filter):
    """Drop DEBUG lines of every logger outside teambot's own packages.

    Libraries log whole request and response bodies at DEBUG (slack_sdk, discord.py's gateway,
    openai, httpx...), which carry users' questions, answers and document text. Capping the
    loggers in `LIBRARY_LOGGERS` at INFO saves formatting those lines; this filter also catches
    libraries not on that list.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG or any(
            record.name == own or record.name.startswith(own + ".") for own in OWN_LOGGERS
        )


def configure_logging(*, level: str, json_format: bool, secrets: Iterable[str], library_debug: bool = False) -> None:
    """Root logging for the process: JSON (or text) on stderr, secrets redacted, chatty libraries quieted.

    Third-party libraries log at INFO at most unless `library_debug` (`TEAMBOT_LOG_LIBRARY_DEBUG`):
    their DEBUG lines hold message content.
    """
    import sys  # noqa: PLC0415

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_format else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactSecrets(secrets))
    if not library_debug:
        handler.addFilter(OnlyOwnDebug())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    root_level = logging.getLevelName(level)
    for library in LIBRARY_LOGGERS:
        logging.getLogger(library).setLevel(root_level if library_debug else max(logging.INFO, root_level))
    for noisy in ("chromadb", "httpx", "httpx2", "httpcore", "openai", "urllib3", "aiohttp.access"):
        # Per-request INFO chatter; an explicit library-debug run wants it too.
        logging.getLogger(noisy).setLevel(root_level if library_debug else max(logging.WARNING, root_level))
