"""`teambot serve`: the core, every configured platform, and one HTTP server, on one event loop.

Platforms register explicitly here: each adapter package exposes
`create_adapter(teambot, *, web_app)`; importing it does nothing by itself.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack
from functools import partial

from aiohttp import web

from adapters.base import Adapter
from adapters.http.app import create_web_app
from bot.app import Teambot
from bot.observability import check_readiness
from bot.settings import Settings

log = logging.getLogger(__name__)


class NothingToServe(RuntimeError):
    """No platform is configured."""


def build_web_app(teambot: Teambot) -> web.Application:
    """The shared aiohttp application (health, metrics, `/api/v1`); platforms add their routes to it
    (Slack's `/slack/events` in HTTP mode)."""
    return create_web_app(teambot, readiness=partial(check_readiness, teambot), metrics=teambot.metrics.render)


def build_adapters(teambot: Teambot, *, web_app: web.Application, console: bool) -> list[Adapter]:
    settings = teambot.settings
    adapters: list[Adapter] = []
    if settings.slack_enabled:
        from adapters.slack import create_adapter as create_slack  # noqa: PLC0415

        adapters.append(create_slack(teambot, web_app=web_app))
    if settings.discord_enabled:
        from adapters.discord import create_adapter as create_discord  # noqa: PLC0415

        adapters.append(create_discord(teambot, web_app=web_app))
    if console:
        from adapters.console.adapter import ConsoleAdapter  # noqa: PLC0415

        adapters.append(ConsoleAdapter(teambot))
    return adapters


async def serve(settings: Settings, *, console: bool = False, port: int | None = None) -> None:
    """Run until SIGINT/SIGTERM (or until the console's input ends)."""
    async with Teambot(settings) as teambot, AsyncExitStack() as stack:
        web_app = build_web_app(teambot)
        adapters = build_adapters(teambot, web_app=web_app, console=console)
        if not adapters and settings.api_token is None:
            raise NothingToServe(
                "nothing to serve: set SLACK_BOT_TOKEN, DISCORD_TOKEN or TEAMBOT_API_TOKEN, or pass --console"
            )
        from bot.reports.wiring import attach_reports  # noqa: PLC0415

        # The scheduled report posts through the adapters (`ReportDestination`s): entered once they started.
        reports = attach_reports(teambot, adapters)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.http_host, port or settings.http_port)
        await site.start()
        for adapter in adapters:
            await stack.enter_async_context(adapter)
        if reports is not None:
            await stack.enter_async_context(reports)  # APScheduler on this loop; stopped before the adapters

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        tasks = [asyncio.create_task(adapter.run(), name=f"adapter-{adapter.platform}") for adapter in adapters]
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Graceful shutdown: stop taking events, finish (or report) the answers in flight,
            # then the exit stack closes the scheduler, the adapters and the connections.
            log.info("shutting down", extra={"in_flight": teambot.dispatcher.in_flight})
            await site.stop()
            await teambot.dispatcher.drain(timeout_s=settings.shutdown_grace_s)
            for task in [*tasks, stopper]:
                task.cancel()
            await asyncio.gather(*tasks, stopper, return_exceptions=True)
