"""Request bodies read with a bound, and JSON parsed without surprises, for every HTTP route.

`read_body(request, limit=...)` refuses a body as soon as it passes the limit,
before anything holds more than that: Content-Length is only a hint (a chunked
body has none), so the bytes are counted as they arrive. `json_object(raw)`
turns anything that is not a JSON object — invalid UTF-8, broken or absurdly
nested JSON — into one `MalformedBody` with a one-line reason.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

READ_CHUNK_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    """The request body is over the route's limit; nothing of it was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is over the {limit:,} byte limit")
        self.limit = limit


class MalformedBody(ValueError):
    """The request body is not what the route takes; the message is one line for the client."""


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


def json_object(raw: bytes | str) -> dict[str, Any]:
    """`raw` parsed as a JSON object, or `MalformedBody`."""
    try:
        value = json.loads(raw)
    except RecursionError:
        # The C decoder gives up at the interpreter's recursion limit: quick, but not a ValueError.
        raise MalformedBody("the body is nested too deeply to be a JSON object we take") from None
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody("the body must be a JSON object") from None
    if not isinstance(value, dict):
        raise MalformedBody("the body must be a JSON object")
    return value
