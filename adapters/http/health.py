"""`/healthz`, `/readyz` and `/metrics`, for orchestrators and Prometheus.

The checks and the metrics are the core's (`bot.observability`); the wiring hands them in, so
this module knows only how to serve them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

Readiness = Callable[[], Awaitable[dict[str, str]]]
"""Each dependency's state: `"ok"`, `"not configured ..."` (fine: it is optional), or what is wrong."""
MetricsText = Callable[[], bytes]
"""The metrics in Prometheus' text format."""


def is_ready(checks: dict[str, str]) -> bool:
    return all(state == "ok" or state.startswith("not configured") for state in checks.values())


def register_health(app: web.Application, *, readiness: Readiness, metrics: MetricsText) -> None:
    """Add `/healthz` (alive), `/readyz` (503 naming what is down) and `/metrics` to `app`."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks = await readiness()
        ready = is_ready(checks)
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    async def metrics_text(_: web.Request) -> web.Response:
        return web.Response(body=metrics(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_text)
