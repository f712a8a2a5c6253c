"""The HTTP API: `/api/v1`, health, readiness and metrics, on the one aiohttp server `teambot serve` runs."""
