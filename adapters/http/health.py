"""`/healthz`, `/readyz` and `/metrics`, for orchestrators and Prometheus.

The checks and the metrics are the core's (`bot.observability`); the wiring hands them in, so
this module knows only how to serve them. `/readyz` needs no credential, so its checks are shared
(`SharedReadiness`): one at a time, each result reused for a moment, whoever asks and however often.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

Readiness = Callable[[], Awaitable[dict[str, str]]]
"""Each dependency's state: `"ok"`, `"not configured ..."` (fine: it is optional), or what is wrong."""
MetricsText = Callable[[], bytes]
"""The metrics in Prometheus' text format."""


def is_ready(checks: dict[str, str]) -> bool:
    return all(state == "ok" or state.startswith("not configured") for state in checks.values())


class SharedReadiness:
    """A `Readiness` that runs at most one check at a time and reuses its result for `ttl_s` seconds.

    Callers arriving while a check runs wait for that check instead of starting their own; a result
    (ready or not) answers every caller until `ttl_s` seconds after it came in (`clock` seconds). So a
    flood of unauthenticated `/readyz` probes costs one round of pings per `ttl_s`, not one per probe.
    """

    def __init__(self, check: Readiness, *, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._check = check
        self._ttl_s = ttl_s
        self._clock = clock
        self._result: dict[str, str] | None = None
        self._checked_at = 0.0
        self._running: asyncio.Task[dict[str, str]] | None = None

    async def __call__(self) -> dict[str, str]:
        """Each dependency's state, from the last check if it is recent enough, else from a (shared) new one."""
        if self._result is not None and self._clock() - self._checked_at < self._ttl_s:
            return dict(self._result)
        if self._running is None:
            self._running = asyncio.create_task(self._run(), name="readiness-check")
        # Shielded: a prober hanging up must not cancel the check the others are waiting for.
        return dict(await asyncio.shield(self._running))

    async def _run(self) -> dict[str, str]:
        try:
            result = await self._check()
            self._result, self._checked_at = result, self._clock()
            return result
        finally:
            self._running = None


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
