"""The adapter tests' loopback fakes, extended with what posting a report needs.

`FilesFakeSlack` adds the `files_upload_v2` flow (`files.getUploadURLExternal`,
the upload itself, `files.completeUploadExternal`); `FilesFakeDiscord` keeps
the files of multipart message posts. `MemoryDestination` is a real
`ReportChannel` that keeps what it was given.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from itertools import count
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bot.core.values import Report
from bot.reports.aggregate import Audience
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_slack import Call, FakeSlack

FILES_METHODS = ("files.getUploadURLExternal", "files.completeUploadExternal")


@dataclass
class FilesFakeSlack(FakeSlack):
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    """file id -> {"filename", "length", "body"} once uploaded."""
    _file_ids: Any = field(default_factory=lambda: count(1))

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["method"] == "_upload":
            # Like files.slack.com: the raw bytes POSTed to the upload URL; answers plain text "OK".
            file_id = request.query["file"]
            self.uploads[file_id]["body"] = await request.read()
            return web.Response(text="OK - " + str(len(self.uploads[file_id]["body"])))
        if request.match_info["method"] in FILES_METHODS:
            # slack_sdk sends these two methods' arguments in the query string of a POST.
            method = request.match_info["method"]
            params: dict[str, Any] = {**request.query, **dict(parse_qsl((await request.read()).decode())),
                                      "_auth": request.headers.get("Authorization", "")}
            call = Call(method, params, time.monotonic(), result=self._answer(method, params))
            self.calls.append(call)
            return web.json_response(call.result)
        return await super()._api(request)

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._file_ids):04d}"
            self.uploads[file_id] = {"filename": params.get("filename"), "length": int(params.get("length", 0))}
            return {"ok": True, "file_id": file_id, "upload_url": f"{self.api_url}_upload?file={file_id}"}
        if method == "files.completeUploadExternal":
            files = json.loads(params["files"]) if isinstance(params.get("files"), str) else params.get("files")
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title"),
                                           "name": self.uploads.get(f["id"], {}).get("filename")} for f in files]}
        return super()._answer(method, params)


@dataclass
class FilesFakeDiscord(FakeDiscord):
    attachments: list[dict[str, Any]] = field(default_factory=list)
    """Every file part of a multipart request: {"path", "filename", "content_type", "data"}."""

    async def _body(self, request: web.Request) -> Any:
        if not request.content_type.startswith("multipart/"):
            return await FakeDiscord._body(request)
        body = None
        reader = await request.multipart()
        async for part in reader:
            if part.name == "payload_json":
                body = json.loads(await part.text())
            elif part.filename:
                self.attachments.append({"path": request.path, "filename": part.filename,
                                         "content_type": part.headers.get("Content-Type"),
                                         "data": await part.read()})
        return body


@dataclass
class MemoryDestination:
    """A report channel that keeps every report it is given, as (text, chart, title) (and can be told to fail)."""

    name: str = "memory:reports"
    posts: list[tuple[str, bytes, str]] = field(default_factory=list)
    fail: bool = False
    readers: Audience = field(default_factory=lambda: Audience(platform="slack", workspace="T1", channel="CREP",
                                                               public_channels=True))
    """Who reads the channel: by default a public channel of Slack workspace T1."""

    async def audience(self) -> Audience:
        return self.readers

    async def post(self, report: Report) -> None:
        if self.fail:
            raise RuntimeError("the channel is unavailable")
        self.posts.append((report.text, report.chart_png, report.title))
