"""How the HTTP adapter refuses: an `ApiError` raised anywhere in a handler becomes one JSON line."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from adapters.http import models


class ApiError(Exception):
    """A request the API refuses: HTTP status and a one-line reason for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = " ".join(message.split())  # always one line


def json_response(model: BaseModel, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """`model` as the JSON body; fields left unset (None) are left out, as the schema allows."""
    return web.json_response(model.model_dump(mode="json", exclude_none=True), status=status, headers=headers)


def error_response(status: int, message: str | models.Error, *,
                   headers: dict[str, str] | None = None) -> web.Response:
    """`{"error": "one line", ...}`; a 401 says which scheme to use."""
    body = models.Error(error=message) if isinstance(message, str) else message
    headers = {**({"WWW-Authenticate": "Bearer"} if status == 401 else {}), **(headers or {})}
    return json_response(body, status=status, headers=headers)
