"""Reading an upload's `multipart/form-data` body: files spooled to disk as they arrive, text
fields bounded, every part refused as soon as it is too big or not one the form takes.

A request holds one read chunk in memory, not its files; the caller removes the spooled files
when the request ends (`remove_files`).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from adapters.http.errors import ApiError
from adapters.http.models import MAX_FIELD_BYTES, MAX_FILENAME_CHARS, MAX_FILES_PER_UPLOAD, UploadForm
from bot.core.values import Attachment

SPOOL_CHUNK_BYTES = 256 * 1024
FIELD_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class FileLimit:
    """The biggest file taken, and how to name it in the refusal."""

    max_bytes: int
    megabytes: float

    def refusal(self, filename: str) -> ApiError:
        return ApiError(413, f"{filename} is over the {self.megabytes:g} MB upload limit (TEAMBOT_MAX_UPLOAD_MB)")


async def read_form(request: web.Request, *, spool_dir: Path, spooled: list[Path],
                    limit: FileLimit) -> tuple[dict[str, str], list[Attachment]]:
    """The form's text fields and its files, every part read before anything is stored.

    Each spooled file's path is added to `spooled` as soon as it exists, for the caller to remove.
    """
    fields: dict[str, str] = {}
    files: list[Attachment] = []
    text_fields = UploadForm.text_fields()
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError):
        raise ApiError(400, "the multipart body is malformed (missing boundary?)") from None
    while True:
        try:
            part = await reader.next()
        except LineTooLong:
            # aiohttp reads a part's header lines up to 8190 bytes; only a huge file name gets there.
            raise ApiError(400, f"a part's headers are too long (is its file name over "
                                f"{MAX_FILENAME_CHARS} characters?)") from None
        except (ValueError, BadHttpMessage) as exc:
            raise ApiError(400, f"the multipart body is malformed ({exc})") from None
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise ApiError(400, "nested multipart bodies are not supported")
        name = part.name or ""
        if name == "file":
            if len(files) >= MAX_FILES_PER_UPLOAD:
                raise ApiError(400, f"at most {MAX_FILES_PER_UPLOAD} files per request")
            filename = part.filename or ""
            if not filename.strip():
                raise ApiError(400, "every 'file' part needs a filename")
            if len(filename) > MAX_FILENAME_CHARS:
                raise ApiError(400, f"the file name {filename[:40]!r}... is longer than "
                                    f"{MAX_FILENAME_CHARS} characters")
            path, size = await _spool_part(part, directory=spool_dir, spooled=spooled, limit=limit.max_bytes,
                                           too_big=limit.refusal(filename))
            files.append(Attachment(name=filename, path=path, size=size))
        elif name in text_fields:
            if name in fields:
                raise ApiError(400, f"'{name}' is given more than once")
            raw = await _read_part(part, limit=MAX_FIELD_BYTES, too_big=ApiError(
                400, f"'{name}' is longer than {MAX_FIELD_BYTES} bytes"))
            try:
                fields[name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, f"'{name}' is not valid UTF-8") from None
        else:
            raise ApiError(400, f"unknown form field '{name}'")
    return fields, files


async def _read_part(part: BodyPartReader, *, limit: int, too_big: ApiError) -> bytes:
    """Read one body part, stopping (raising `too_big`) as soon as it passes `limit` instead of buffering it all."""
    buffer = bytearray()
    while chunk := await part.read_chunk(FIELD_CHUNK_BYTES):
        buffer += chunk
        if len(buffer) > limit:
            raise too_big
    return bytes(buffer)


async def _spool_part(part: BodyPartReader, *, directory: Path, spooled: list[Path], limit: int,
                      too_big: ApiError) -> tuple[Path, int]:
    """Write one body part to a new file in `directory` (added to `spooled`), stopping past `limit`.

    (path, size). File system calls run in a thread: a slow disk must not stall the event loop.
    """
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    descriptor, name = await asyncio.to_thread(tempfile.mkstemp, dir=directory, prefix="upload-")
    path = Path(name)
    spooled.append(path)
    size = 0
    with os.fdopen(descriptor, "wb") as file:
        while chunk := await part.read_chunk(SPOOL_CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise too_big
            await asyncio.to_thread(file.write, chunk)
    return path, size


def remove_files(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
