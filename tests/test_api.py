"""The HTTP API under /api/v1: a real aiohttp server on loopback, the real core, Redis and Chroma."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from pydantic import ValidationError

from adapters.http.app import HttpApi
from adapters.http.models import AskRequest
from adapters.http.openapi import openapi_document
from bot.app import Teambot
from bot.serve import build_web_app
from bot.settings import Settings
from tests.support.openai_server import FakeOpenAI
from tests.support.web_app import upload_form as _form
from tests.support.web_app import web_app_client

TOKEN = "api-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

GUIDE = b"""# Deploy guide

## Linux

To deploy on Linux, run make install and start the service with systemctl start teambot.
The default port of the web console is 8080.
"""

SECRET = b"""# Project Falcon

The launch code of project Falcon is tangerine-seven. Only the Falcon team knows it.
"""


@pytest.fixture
async def api(make_settings: Callable[..., Settings]) -> AsyncIterator[TestClient]:
    """The shared web app of a core without a model (extractive answers), API token set."""
    async with Teambot(make_settings(api_token=TOKEN, max_upload_mb=0.05)) as teambot:
        async with web_app_client(teambot) as client:
            yield client


@pytest.fixture
async def api_llm(make_settings: Callable[..., Settings], openai_server: FakeOpenAI) -> AsyncIterator[TestClient]:
    settings = make_settings(api_token=TOKEN, openai_base_url=openai_server.base_url, openai_api_key="sk-test",
                             chat_model="fake-model", model_max_retries=0)
    async with Teambot(settings) as teambot:
        async with web_app_client(teambot) as client:
            yield client


async def _error(response: aiohttp.ClientResponse, status: int) -> str:
    """Assert the response is `status` with a one-line JSON error, and return the error."""
    assert response.status == status, await response.text()
    body = await response.json()
    assert isinstance(body["error"], str) and body["error"] and "\n" not in body["error"]
    return body["error"]


async def _documents(client: TestClient, **where: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/documents", params=where, headers=AUTH)
    assert response.status == 200, await response.text()
    return (await response.json())["documents"]


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse a Server-Sent Events body into (event, data) pairs."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


async def test_token_is_required_and_openapi_is_public(api: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = await api.get("/api/v1/documents", params={"workspace": "W", "channel": "C"}, headers=headers)
        await _error(response, 401)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    response = await api.post("/api/v1/ask", json={"question": "port?", "workspace": "W", "channel": "C"})
    await _error(response, 401)

    response = await api.get("/api/v1/openapi.json")
    assert response.status == 200 and (await response.json())["openapi"] == "3.1.0"


async def test_api_is_disabled_without_a_token(teambot: Teambot) -> None:
    async with web_app_client(teambot) as client:
        response = await client.get("/api/v1/documents", params={"workspace": "W", "channel": "C"}, headers=AUTH)
        assert "TEAMBOT_API_TOKEN" in await _error(response, 503)


async def test_upload_list_and_delete(api: TestClient) -> None:
    response = await api.post("/api/v1/documents", headers=AUTH, data=_form(
        ("guide.md", GUIDE), ("empty.txt", b""), workspace="W", channel="C", note="ops", uploader="ci"))
    assert response.status == 200, await response.text()
    guide, empty = (await response.json())["results"]
    assert guide["status"] == "added" and guide["document"]["scope"] == {"platform": "api", "workspace": "W",
                                                                         "channel": "C"}
    assert guide["document"]["uploader"] == "ci" and guide["document"]["note"] == "ops"
    assert empty["status"] == "rejected" and empty["error"] and "\n" not in empty["error"]

    [listed] = await _documents(api, workspace="W", channel="C")
    assert listed["id"] == guide["document"]["id"] and listed["source"] == "guide.md"
    assert await _documents(api, workspace="W", channel="other") == []

    # Deleting is confined to the scope named in the query.
    doc_id = listed["id"]
    for where in ({"workspace": "W", "channel": "other"}, {"workspace": "W2", "channel": "C"},
                  {"workspace": "W", "channel": "C", "platform": "slack"}):
        response = await api.delete(f"/api/v1/documents/{doc_id}", params=where, headers=AUTH)
        await _error(response, 404)
    assert len(await _documents(api, workspace="W", channel="C")) == 1

    response = await api.delete(f"/api/v1/documents/{doc_id}", params={"workspace": "W", "channel": "C"},
                                headers=AUTH)
    assert response.status == 200 and (await response.json())["deleted"]["id"] == doc_id
    assert await _documents(api, workspace="W", channel="C") == []
    response = await api.delete(f"/api/v1/documents/{doc_id}", params={"workspace": "W", "channel": "C"},
                                headers=AUTH)
    await _error(response, 404)


async def test_list_and_delete_are_the_chat_commands(api: TestClient) -> None:
    """Listing and deleting go through the command service, as an admin's `/kb` does in chat: a document
    is named by id or file name, the workspace-wide ones are managed from any channel, and a refusal
    reads as it does on every platform."""
    upload = await api.post("/api/v1/documents", headers=AUTH, data=_form(("guide.md", GUIDE), workspace="W",
                                                                          channel="*"))
    assert upload.status == 200, await upload.text()
    upload = await api.post("/api/v1/documents", headers=AUTH, data=_form(("falcon.md", SECRET), workspace="W",
                                                                          channel="C"))
    assert upload.status == 200, await upload.text()
    where = {"workspace": "W", "channel": "C"}
    listed = await _documents(api, **where)
    assert sorted((d["source"], d["workspace_wide"]) for d in listed) == [("falcon.md", False), ("guide.md", True)]

    response = await api.delete("/api/v1/documents/falcon.md", params=where, headers=AUTH)
    assert response.status == 200, await response.text()
    assert (await response.json())["deleted"]["source"] == "falcon.md"
    response = await api.delete("/api/v1/documents/guide.md", params=where, headers=AUTH)
    assert response.status == 200 and (await response.json())["deleted"]["scope"]["channel"] == "*"
    response = await api.delete("/api/v1/documents/guide.md", params=where, headers=AUTH)
    assert await _error(response, 404) == "no document named 'guide.md' here"
    assert await _documents(api, **where) == []


async def test_bad_uploads_store_nothing(api: TestClient) -> None:
    where = {"workspace": "W", "channel": "C"}
    # Every file bad: 422 with per-file reasons.
    response = await api.post("/api/v1/documents", headers=AUTH, data=_form(
        ("broken.pdf", b"%PDF-1.7 not really"), ("zero.md", b""), **where))
    error = await _error(response, 422)
    assert error.startswith("no file was added")
    assert [r["status"] for r in (await response.json())["results"]] == ["rejected", "rejected"]

    # Over the limit (0.05 MB here): refused while reading, and the good file before it is not stored either.
    big = b"word " * 20_000
    response = await api.post("/api/v1/documents", headers=AUTH, data=_form(
        ("guide.md", GUIDE), ("big.txt", big), **where))
    assert "big.txt" in await _error(response, 413)

    # Fields missing or wrong: 400, even though the file itself is fine.
    for form in (_form(("guide.md", GUIDE), channel="C"),
                 _form(("guide.md", GUIDE), workspace="W", channel="a:b"),
                 _form(("guide.md", GUIDE), workspace="W", channel="C", colour="blue"),
                 _form(workspace="W", channel="C")):
        await _error(await api.post("/api/v1/documents", headers=AUTH, data=form), 400)
    response = await api.post("/api/v1/documents", headers=AUTH, json={"workspace": "W"})
    await _error(response, 400)

    assert await _documents(api, **where) == []


BAD_ASK_BODIES: list[Any] = [
    {"workspace": "W", "channel": "C"},
    {"question": "  ", "workspace": "W", "channel": "C"},
    {"question": "port?", "channel": "C"},
    {"question": "port?", "workspace": "W", "channel": "C", "thread": "t 1"},
    {"question": "port?", "workspace": "W:x", "channel": "C", "thread": "t1"},
    {"question": "port?", "workspace": "W", "channel": "C", "thread": "t1", "stream": "yes"},
    {"question": "port?", "workspace": "W", "channel": "C", "thread": "t1", "scope": "all"},
    {"question": "port?", "workspace": 7, "channel": "C"},
    {"question": "x" * 8001, "workspace": "W", "channel": "C"},
    ["port?"],
]


async def test_ask_validation_stores_nothing(api: TestClient) -> None:
    for body in BAD_ASK_BODIES:
        await _error(await api.post("/api/v1/ask", json=body, headers=AUTH), 400)
    await _error(await api.post("/api/v1/ask", data=b"{not json", headers=AUTH), 400)
    response = await api.get("/api/v1/threads/t1/history", params={"workspace": "W", "channel": "C"},
                             headers=AUTH)
    assert (await response.json())["turns"] == []


async def test_ask_json_and_streamed_with_history(api_llm: TestClient, openai_server: FakeOpenAI) -> None:
    response = await api_llm.post("/api/v1/documents", headers=AUTH,
                                  data=_form(("guide.md", GUIDE), workspace="W", channel="C"))
    assert response.status == 200
    openai_server.reply = "Run make install and start it with systemctl [1]."

    response = await api_llm.post("/api/v1/ask", headers=AUTH, json={
        "question": "How do I deploy on Linux?", "workspace": "W", "channel": "C"})
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["answer"] == "Run make install and start it with systemctl [1]."
    assert answer["mode"] == "llm" and answer["answered"] is True
    [citation] = answer["citations"]
    assert citation["number"] == 1 and citation["source"] == "guide.md" and citation["document_id"]
    thread = answer["thread"]
    assert thread, "a new thread id is returned to follow up with"

    openai_server.reply = "Use the same steps as before, then check port 8080 [1]."
    response = await api_llm.post("/api/v1/ask", headers={**AUTH, "Accept": "text/event-stream"}, json={
        "question": "And the web console port on Linux?", "workspace": "W", "channel": "C", "thread": thread})
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    events = _events(await response.text())
    deltas = [data["text"] for name, data in events if name == "delta"]
    assert len(deltas) > 3, "the answer should arrive piece by piece"
    assert [name for name, _ in events][-1] == "reply"
    final = events[-1][1]
    assert "".join(deltas).strip() == final["answer"] == openai_server.reply
    assert final["thread"] == thread and final["citations"][0]["source"] == "guide.md"
    contents = [m["content"] for m in openai_server.chat_requests()[-1]["body"]["messages"]]
    assert "How do I deploy on Linux?" in contents, "the thread's first turn reaches the model"

    where = {"workspace": "W", "channel": "C"}
    response = await api_llm.get(f"/api/v1/threads/{thread}/history", params=where, headers=AUTH)
    turns = (await response.json())["turns"]
    assert [t["question"] for t in turns] == ["How do I deploy on Linux?", "And the web console port on Linux?"]
    # Same thread id in another channel is another conversation.
    response = await api_llm.get(f"/api/v1/threads/{thread}/history", params={**where, "channel": "D"},
                                 headers=AUTH)
    assert (await response.json())["turns"] == []

    response = await api_llm.delete(f"/api/v1/threads/{thread}/history", params=where, headers=AUTH)
    assert response.status == 200 and (await response.json())["cleared"] is True
    response = await api_llm.get(f"/api/v1/threads/{thread}/history", params=where, headers=AUTH)
    assert (await response.json())["turns"] == []


async def test_model_failure_is_one_line_and_not_remembered(api_llm: TestClient, openai_server: FakeOpenAI) -> None:
    await api_llm.post("/api/v1/documents", headers=AUTH, data=_form(("guide.md", GUIDE), workspace="W", channel="C"))
    openai_server.fail_status = 500
    body = {"question": "How do I deploy on Linux?", "workspace": "W", "channel": "C", "thread": "t9"}
    response = await api_llm.post("/api/v1/ask", headers=AUTH, json=body)
    assert "HTTP 500" in await _error(response, 502)

    response = await api_llm.post("/api/v1/ask", headers=AUTH, json={**body, "stream": True})
    [(name, data)] = [e for e in _events(await response.text()) if e[0] != "delta"]
    assert name == "error" and "HTTP 500" in data["error"] and data["thread"] == "t9"

    response = await api_llm.get("/api/v1/threads/t9/history", params={"workspace": "W", "channel": "C"},
                                 headers=AUTH)
    assert (await response.json())["turns"] == []


async def test_scope_isolation(api: TestClient) -> None:
    question = "What is the launch code of project Falcon?"
    await api.post("/api/v1/documents", headers=AUTH, data=_form(("falcon.md", SECRET), workspace="W", channel="A"))

    async def ask(**where: str) -> dict[str, Any]:
        response = await api.post("/api/v1/ask", headers=AUTH, json={"question": question, **where})
        assert response.status == 200, await response.text()
        return await response.json()

    inside = await ask(workspace="W", channel="A")
    assert inside["answered"] and "tangerine-seven" in inside["answer"]
    assert [c["source"] for c in inside["citations"]] == ["falcon.md"]

    for where in ({"workspace": "W", "channel": "B"}, {"workspace": "W2", "channel": "A"},
                  {"workspace": "W", "channel": "A", "platform": "slack"}, {"workspace": "W", "channel": "*"}):
        outside = await ask(**where)
        assert not outside["answered"] and outside["citations"] == [], where
        assert "tangerine" not in outside["answer"]

    # Workspace-wide knowledge is seen from every channel of that workspace, and only there.
    await api.post("/api/v1/documents", headers=AUTH, data=_form(("guide.md", GUIDE), workspace="W", channel="*"))
    response = await api.post("/api/v1/ask", headers=AUTH, json={
        "question": "What is the default port of the web console?", "workspace": "W", "channel": "B"})
    seen = await response.json()
    assert seen["answered"] and [c["source"] for c in seen["citations"]] == ["guide.md"]
    assert {d["source"] for d in await _documents(api, workspace="W", channel="B")} == {"guide.md"}
    assert await _documents(api, workspace="W2", channel="B") == []


def test_the_description_refuses_what_the_api_refuses() -> None:
    """The description is generated from the models that validate requests: a body it calls valid is
    taken, and one it calls invalid is refused (the hand-kept description let "  " pass as a question)."""
    validator = Draft202012Validator(openapi_document()["components"]["schemas"]["AskRequest"])
    good = [{"question": "port?", "workspace": "W", "channel": "*"},
            {"question": " port? ", "workspace": "W", "channel": "C", "thread": "t1", "platform": "slack",
             "user": "ci", "stream": True}]
    for body in [*good, *BAD_ASK_BODIES]:
        try:
            AskRequest.model_validate_json(json.dumps(body))
            taken = True
        except ValidationError:
            taken = False
        assert validator.is_valid(body) == taken == (body in good), body


async def test_openapi_is_valid_and_covers_every_route(api: TestClient) -> None:
    spec = openapi_document()
    validate(spec)  # structural validation against the OpenAPI 3.1 schema

    registered = {
        (route.method.lower(), route.resource.canonical)
        for route in api.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/v1")
    }
    described = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert registered == described
    assert (await (await api.get("/api/v1/openapi.json")).json()) == spec


async def _raw_request(client: TestClient, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes aiohttp's client would refuse to (e.g. a header that is not UTF-8); (status, body)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(head + b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = response.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


async def test_malformed_requests_get_a_one_line_4xx_never_500(api: TestClient) -> None:
    where = {"workspace": "W", "channel": "C"}
    deep = b"[" * 30_000 + b"]" * 30_000  # within the size limit, far past the parser's recursion limit
    for body in (deep, b'{"question": ' * 3_000, b"\xff\xfe{}"):
        await _error(await api.post("/api/v1/ask", data=body, headers=AUTH), 400)
    # An ask body is a question of at most 8000 characters, not megabytes: refused by its size.
    for body in (b"[" * 100_000 + b"]" * 100_000,
                 json.dumps({"question": "port?", "workspace": "W", "channel": "C", "note": "x" * 2_000_000})):
        await _error(await api.post("/api/v1/ask", data=body, headers=AUTH), 413)

    status, body = await _raw_request(
        api, b"GET /api/v1/documents?workspace=W&channel=C HTTP/1.1\r\nHost: x\r\n"
             b"Authorization: Bearer \xff\xfe" + TOKEN.encode() + b"\r\n")
    assert status == 401, body
    assert "\n" not in json.loads(body)["error"]

    for long_name in ("가" * 100_000 + ".md", "가" * 300 + ".md"):
        response = await api.post("/api/v1/documents", headers=AUTH, data=_form((long_name, GUIDE), **where))
        assert "file name" in await _error(response, 400)
    assert await _documents(api, **where) == []


async def _streamed_form(files: list[tuple[str, int]], *, boundary: str,
                         **fields: str) -> AsyncIterator[bytes]:
    """A multipart body generated while it is sent (chunked): the client holds one 64 KiB piece at a time."""
    piece = b"\x00\x01binary\xff" * 6553 + b"\x00\x01"  # 64 KiB that no parser takes
    for name, value in fields.items():
        yield (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n').encode()
    for filename, size in files:
        yield (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
               f"Content-Type: application/octet-stream\r\n\r\n").encode()
        for _ in range(size // len(piece)):
            yield piece
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


async def test_uploads_are_spooled_to_disk_not_held_in_memory(make_settings: Callable[..., Settings],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """8 parts of 1.5 MB: reading the form holds a read chunk, not the files (it held all 8, and copies, before).

    Measured over the form reading (tracemalloc's peak while `_read_form` runs): ingestion then reads one
    spooled file at a time, and what the parsers allocate for a file is theirs to bound.
    """
    peaks: list[int] = []
    read_form = HttpApi._read_form

    async def measured_read_form(self: HttpApi, *args: Any, **kwargs: Any) -> Any:
        tracemalloc.reset_peak()
        try:
            return await read_form(self, *args, **kwargs)
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1])

    monkeypatch.setattr(HttpApi, "_read_form", measured_read_form)
    boundary = "teambot-test-boundary"
    headers = {**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    part_bytes = 24 * 64 * 1024  # 1.5 MiB
    async with Teambot(make_settings(api_token=TOKEN, max_upload_mb=2)) as teambot:
        spool = teambot.settings.data_dir / "uploads-in-progress"
        async with web_app_client(teambot) as client:
            tracemalloc.start()
            try:
                body = _streamed_form([(f"blob{n}.bin", part_bytes) for n in range(8)], boundary=boundary,
                                      workspace="W", channel="C")
                response = await client.post("/api/v1/documents", data=body, headers=headers)
            finally:
                tracemalloc.stop()
            assert "no file was added" in await _error(response, 422)
            assert len((await response.json())["results"]) == 8
            # 12 MiB of parts; reading them holds a few 256 KiB chunks and the server's buffers.
            assert peaks[0] < 4 * 1024 * 1024, f"reading the form held {peaks[0]:,} bytes at its peak"
            assert list(spool.iterdir()) == [], "spooled files are removed when the request ends"

            # Over the limit in the third part: 413, and the spooled parts before it are gone too.
            body = _streamed_form([("a.bin", part_bytes), ("b.bin", part_bytes), ("big.bin", 3 * part_bytes)],
                                  boundary=boundary, workspace="W", channel="C")
            response = await client.post("/api/v1/documents", data=body, headers=headers)
            assert "big.bin" in await _error(response, 413)
            assert list(spool.iterdir()) == []
            assert await _documents(client, workspace="W", channel="C") == []


async def test_files_left_spooled_by_an_interrupted_run_are_removed_at_start(
        make_settings: Callable[..., Settings]) -> None:
    async with Teambot(make_settings(api_token=TOKEN)) as teambot:
        stale = teambot.settings.data_dir / "uploads-in-progress" / "upload-killed-mid-request"
        stale.parent.mkdir(parents=True)
        stale.write_bytes(b"x" * 1024)
        build_web_app(teambot)
        assert not stale.exists()
