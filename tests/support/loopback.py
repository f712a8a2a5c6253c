"""Serving the tests' fake services on loopback."""

from __future__ import annotations

from aiohttp import web


async def serve_on_loopback(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve `app` on a free 127.0.0.1 port chosen by the kernel; stop it with `await runner.cleanup()`."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()  # port 0: no race for a "free" port
    return runner, runner.addresses[0][1]
