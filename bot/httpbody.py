"""Request bodies read with a bound, for every HTTP route that reads one whole (the API's and Slack's).

`read_body(request, limit=...)` refuses a body as soon as it passes the limit,
before anything holds more than that: Content-Length is only a hint (a chunked
body has none), so the bytes are counted as they arrive.
"""

from __future__ import annotations

from aiohttp import web

READ_CHUNK_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    """The request body is over the route's limit; nothing of it was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is over the {limit:,} byte limit")
        self.limit = limit


async def read_body(request: web.Request, *, limit: int) -> bytes:
    """The whole body, or `BodyTooLarge` as soon as more than `limit` bytes have arrived."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)  # refused before reading a byte
    buffer = bytearray()
    while chunk := await request.content.read(READ_CHUNK_BYTES):
        buffer += chunk
        if len(buffer) > limit:
            raise BodyTooLarge(limit)
    return bytes(buffer)
