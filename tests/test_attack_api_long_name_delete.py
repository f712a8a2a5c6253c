"""Attack: the HTTP API takes file names of up to 255 characters (`MAX_NAME_CHARS`, what file systems
allow), but `DELETE /api/v1/documents/{id}` refused a reference over 200 characters: a document the
API had just stored under a 250-character name could be deleted by its id only, not by the name the
upload answered with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from bot.app import Teambot
from bot.core.labels import MAX_NAME_CHARS
from bot.settings import Settings
from tests.support.web_app import web_app_client

TOKEN = "api-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WHERE = {"workspace": "W", "channel": "C"}


@pytest.fixture
async def api(make_settings: Callable[..., Settings]) -> AsyncIterator[TestClient]:
    async with Teambot(make_settings(api_token=TOKEN)) as teambot, web_app_client(teambot) as client:
        yield client


async def test_a_document_is_deleted_by_the_longest_name_the_api_stores(api: TestClient) -> None:
    name = "quarterly-report-" * 14 + "x" * (MAX_NAME_CHARS - 3 - 17 * 14) + ".md"
    assert len(name) == MAX_NAME_CHARS
    form = aiohttp.FormData()
    for field, value in WHERE.items():
        form.add_field(field, value)
    form.add_field("file", b"# Report\n\nRevenue grew by four percent.\n", filename=name,
                   content_type="application/octet-stream")
    response = await api.post("/api/v1/documents", headers=AUTH, data=form)
    assert response.status == 200, await response.text()
    stored = (await response.json())["results"][0]["file"]
    assert stored == name

    response = await api.delete(f"/api/v1/documents/{name}", params=WHERE, headers=AUTH)
    assert response.status == 200, await response.text()
    assert (await response.json())["deleted"]["source"] == name
