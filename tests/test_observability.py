"""Health, readiness, metrics and logs of a running core."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.fake.adapter import FakeAdapter
from adapters.http.health import SharedReadiness, register_health
from bot.app import Teambot
from bot.observability import configure_logging
from bot.redis_server import EmbeddedRedis
from bot.settings import Settings
from tests.support.openai_server import FakeOpenAI
from tests.support.web_app import web_app_client


async def test_health_ready_and_metrics(teambot_llm: Teambot) -> None:
    async with web_app_client(teambot_llm) as client:
        assert (await client.get("/healthz")).status == 200
        ready = await client.get("/readyz")
        assert ready.status == 200
        assert (await ready.json())["checks"] == {"redis": "ok", "chroma": "ok", "model": "ok"}

        fake = FakeAdapter(teambot_llm)
        await fake.upload("guide.md", b"# Guide\n\nThe web console listens on port 8080.")
        await fake.upload("bad.exe", b"MZ")
        await fake.say("Which port does the web console listen on?")
        await fake.say("How do I bake bread?", thread="t2")

        metrics = await (await client.get("/metrics")).text()
        assert 'teambot_questions_total{outcome="answered",platform="fake"} 1.0' in metrics
        assert 'teambot_questions_total{outcome="unanswered",platform="fake"} 1.0' in metrics
        assert 'teambot_answer_seconds_count{platform="fake"} 2.0' in metrics
        assert 'teambot_model_tokens_total{direction="input"} 100.0' in metrics
        assert "teambot_ingested_documents_total 1.0" in metrics
        assert "teambot_ingest_failures_total 1.0" in metrics
        assert "teambot_vector_writes_queued 0.0" in metrics  # exposed (its count in an outage: test_stores)


async def test_readyz_reports_a_stopped_redis(make_settings: Callable[..., Settings], tmp_path) -> None:
    async with EmbeddedRedis(tmp_path / "own-redis", persist=False) as redis_server:
        async with Teambot(make_settings(redis_url=redis_server.url)) as teambot:
            async with web_app_client(teambot) as client:
                await redis_server.stop()
                response = await client.get("/readyz")
                body = await response.json()
                assert response.status == 503 and not body["ready"]
                assert body["checks"]["redis"].startswith("unavailable")
                assert body["checks"]["chroma"] == "ok"
                assert body["checks"]["model"] == "not configured (extractive answers)"


class GatedCheck:
    """A readiness check that counts its runs and, while `gate` is closed, waits for it to open."""

    def __init__(self) -> None:
        self.runs = 0
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.state = "ok"

    async def __call__(self) -> dict[str, str]:
        self.runs += 1
        self.started.set()
        await self.gate.wait()
        return {"redis": self.state}


async def test_readiness_callers_share_the_check_in_flight_and_one_leaving_does_not_cancel_it() -> None:
    check = GatedCheck()
    readiness = SharedReadiness(check, ttl_s=0, clock=lambda: 100.0)  # no reuse: only the sharing counts
    waiting = [asyncio.create_task(readiness()) for _ in range(10)]
    await check.started.wait()  # every caller has run up to its wait by then (they were scheduled first)
    assert not any(task.done() for task in waiting)
    waiting[0].cancel()  # a prober hangs up mid-check
    await asyncio.sleep(0)
    check.gate.set()
    results = await asyncio.gather(*waiting[1:])
    assert results == [{"redis": "ok"}] * 9 and waiting[0].cancelled()
    assert check.runs == 1, "ten callers at once, one check"
    assert await readiness() == {"redis": "ok"} and check.runs == 2, "with no reuse, the next caller checks again"


async def test_a_flood_of_readyz_probes_pings_once_per_cache_period() -> None:
    now = [1000.0]
    check = GatedCheck()
    check.gate.set()
    app = web.Application()
    register_health(app, readiness=SharedReadiness(check, ttl_s=2.0, clock=lambda: now[0]), metrics=lambda: b"")
    async with TestClient(TestServer(app)) as client:
        statuses = [r.status for r in await asyncio.gather(*(client.get("/readyz") for _ in range(25)))]
        assert statuses == [200] * 25 and check.runs == 1
        now[0] += 1.9
        assert (await client.get("/readyz")).status == 200 and check.runs == 1, "reused within 2 s"
        check.state = "unavailable (ConnectionError)"
        now[0] += 0.2
        down = await client.get("/readyz")
        assert down.status == 503 and check.runs == 2, "checked again once the result is 2 s old"
        assert (await down.json())["checks"] == {"redis": "unavailable (ConnectionError)"}
        for _ in range(5):
            assert (await client.get("/readyz")).status == 503
        assert check.runs == 2, "a failing result is reused too: an outage is no reason to ping harder"


async def test_the_served_readyz_shares_its_pings(make_settings: Callable[..., Settings],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    async with Teambot(make_settings(readiness_cache_s=60)) as teambot:
        pings = 0
        ping = teambot.redis.ping

        async def counted_ping() -> object:
            nonlocal pings
            pings += 1
            return await ping()

        monkeypatch.setattr(teambot.redis, "ping", counted_ping)
        async with web_app_client(teambot) as client:
            responses = await asyncio.gather(*(client.get("/readyz") for _ in range(20)))
            assert [r.status for r in responses] == [200] * 20
            assert pings == 1, "twenty probes, one Redis ping"


@pytest.fixture
def captured_logs() -> AsyncIterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    yield buffer
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


async def test_json_logs_carry_correlation_ids_and_hide_text_and_secrets(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI, captured_logs: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(openai_base_url=openai_server.base_url, openai_api_key="sk-live-secret-123",
                             model_max_retries=0)
    configure_logging(level="INFO", json_format=True, secrets=settings.secret_values())
    monkeypatch.setattr(logging.getLogger().handlers[0], "stream", captured_logs)
    async with Teambot(settings) as teambot:
        fake = FakeAdapter(teambot)
        await fake.upload("guide.md", b"# Guide\n\nThe web console listens on port 8080.")
        openai_server.fail_status = 401
        await fake.say("Which port does the confidential web console listen on?")
        logging.getLogger("test").warning("token was sk-live-secret-123")

    lines = [json.loads(line) for line in captured_logs.getvalue().splitlines()]
    received = next(line for line in lines if line["message"] == "question received")
    assert received["correlation_id"] == "E2"
    assert received["length"] == len("Which port does the confidential web console listen on?")
    failed = next(line for line in lines if line["message"] == "answer failed")
    assert failed["correlation_id"] == "E2" and failed["kind"] == "model_auth"
    output = captured_logs.getvalue()
    assert "confidential" not in output, "message text is not logged unless enabled"
    assert "sk-live-secret-123" not in output and "token was ***" in output
    assert "HTTP Request" not in output, "the model client's per-request transport lines stay quiet at INFO"


async def test_metrics_labels_stay_bounded_whatever_platform_callers_name(
        make_settings: Callable[..., Settings]) -> None:
    """An API caller may name any platform; /metrics gets one series for all unknown ones, not one each."""
    async with Teambot(make_settings(api_token="tok")) as teambot:
        async with web_app_client(teambot) as client:
            for number in range(20):
                response = await client.post("/api/v1/ask", headers={"Authorization": "Bearer tok"}, json={
                    "question": "Which port?", "workspace": "W", "channel": "C", "platform": f"made-up-{number}"})
                assert response.status == 200, await response.text()
            response = await client.post("/api/v1/ask", headers={"Authorization": "Bearer tok"},
                                         json={"question": "Which port?", "workspace": "W", "channel": "C"})
            assert response.status == 200
            metrics = await (await client.get("/metrics")).text()
    assert "made-up" not in metrics
    assert 'teambot_answer_seconds_count{platform="other"} 20.0' in metrics
    assert 'teambot_answer_seconds_count{platform="api"} 1.0' in metrics
    assert 'teambot_questions_total{outcome="unanswered",platform="other"} 20.0' in metrics
