"""Citations link to their source (issue 21): a document's URL (a Slack file's permalink, the `url` of an API
upload) is kept in the catalog and reaches every surface as a link, with how recently the document changed.
Only plain http/https addresses are ever shown as links: a hostile URL is refused at the API and never
rendered as a link anywhere."""

from __future__ import annotations

import dataclasses
import io
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from adapters.console.adapter import ConsoleStream
from adapters.discord.stream import render_reply
from adapters.http.translate import reply_json
from adapters.slack.blocks import source_blocks
from agent.catalog import Catalog
from bot.app import Teambot
from bot.core.links import MAX_URL_CHARS, safe_url, updated_ago
from bot.core.values import Citation, Reply
from bot.settings import Settings
from tests.support.indexed_documents import SALES, indexed_document, open_knowledge
from tests.support.web_app import upload_form as _form
from tests.support.web_app import web_app_client

DAY = 86_400.0
NOW = 1_800_000_000.0
URL = "https://wiki.example.com/ops/deploy?tab=linux&v=2"
HOSTILE_URLS = [
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://x.example.com|<!everyone>",
    "https://x.example.com/><!channel>",
    "https://x.example.com/a b",
    "https://x.example.com/\n<!here>",
    "http://",
    "ftp://files.example.com/guide.md",
    "https://x.example.com/" + "a" * MAX_URL_CHARS,
]
GUIDE = Citation(number=1, source="guide.md", location="§ Linux", snippet="Port 8080.", document_id="d1",
                 url=URL, updated_at=NOW - 3 * DAY - 5)


def hostile(url: str) -> Citation:
    return replace(GUIDE, url=url)


def three_days_old(citation: Citation) -> Citation:
    """`citation` updated three days before now (for the surfaces that read the clock themselves)."""
    return replace(citation, updated_at=time.time() - 3 * DAY - 5)


def test_only_plain_web_addresses_are_links() -> None:
    assert safe_url(URL) == URL and safe_url("http://intranet/guide") == "http://intranet/guide"
    for url in [*HOSTILE_URLS, None, ""]:
        assert safe_url(url) is None, url


def test_freshness_is_said_in_days() -> None:
    assert updated_ago(NOW - 60, now=NOW) == "updated today"
    assert updated_ago(NOW + 60, now=NOW) == "updated today", "a clock slightly ahead is still today"
    assert updated_ago(NOW - DAY - 1, now=NOW) == "updated yesterday"
    assert updated_ago(NOW - 3 * DAY - 5, now=NOW) == "updated 3 days ago"
    assert replace(GUIDE, updated_at=None).freshness(now=NOW) == ""


def _slack_line(citation: Citation) -> str:
    [block] = source_blocks(Reply(text="Port 8080 [1].", citations=(citation,)), now=NOW)
    [element] = block["elements"]
    return str(element["text"])


def test_slack_links_the_source_name_escaped() -> None:
    line = _slack_line(GUIDE)
    assert line == ("*[1]* <https://wiki.example.com/ops/deploy?tab=linux&amp;v=2|guide.md> · § Linux"
                    " · updated 3 days ago")
    named = _slack_line(replace(GUIDE, source="a<b>&c|d.md"))
    assert "|a&lt;b&gt;&amp;c|d.md>" in named, "the name is escaped inside the link"


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_slack_never_links_a_hostile_url(url: str) -> None:
    line = _slack_line(hostile(url))
    assert line == "*[1]* guide.md · § Linux · updated 3 days ago"


def test_discord_masks_the_link_without_an_embed() -> None:
    text = render_reply(Reply(text="Port 8080 [1].", citations=(three_days_old(GUIDE),)))
    assert f"[1] [**guide.md**](<{URL}>) — § Linux · updated 3 days ago" in text


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_discord_never_links_a_hostile_url(url: str) -> None:
    text = render_reply(Reply(text="Port 8080 [1].", citations=(three_days_old(hostile(url)),)))
    assert "[1] **guide.md** — § Linux · updated 3 days ago" in text
    assert "](" not in text and "javascript" not in text


async def test_console_prints_the_url_under_the_source() -> None:
    out = io.StringIO()
    await ConsoleStream(out).finish(Reply(text="Port 8080 [1].", citations=(three_days_old(GUIDE),
                                                                                hostile("javascript:x"))))
    printed = out.getvalue()
    assert f"  [1] guide.md (§ Linux) — updated 3 days ago\n      {URL}\n" in printed
    assert "javascript" not in printed


def test_api_answer_carries_url_and_update_time() -> None:
    body = reply_json(Reply(text="Port 8080 [1].", citations=(GUIDE, replace(hostile("javascript:x"), number=2))),
                      thread="t")
    linked, refused = body["citations"]
    assert linked["url"] == URL and linked["updated_at"].startswith("2027-01-")
    assert refused["url"] is None


# --- the catalog ----------------------------------------------------------------------------------------------

# The catalog's layout before documents had a URL.
_BEFORE_URLS = """
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    platform TEXT NOT NULL, workspace TEXT NOT NULL, channel TEXT NOT NULL,
    source TEXT NOT NULL, title TEXT NOT NULL, content_hash TEXT NOT NULL,
    uploader TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
    chunk_count INTEGER NOT NULL, size_bytes INTEGER NOT NULL, ingested_at REAL NOT NULL
);
CREATE TABLE chunks (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, text TEXT NOT NULL, location TEXT NOT NULL, terms TEXT NOT NULL DEFAULT ''
);
INSERT INTO documents VALUES ('backups', 'slack', 'T1', 'C-sales', 'backups.md', 'backups', 'h', 'U1', '', 1, 30, 5);
INSERT INTO chunks VALUES (7, 'backups#0', 'backups', 0, 'Backups run nightly at 02:00.', '', 'backup run');
"""


async def test_a_catalog_from_before_urls_keeps_its_documents_and_takes_urls(tmp_path: Path) -> None:
    path = tmp_path / "k.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(_BEFORE_URLS)
    async with open_knowledge(path) as (catalog, _):
        [old] = await catalog.list_documents([SALES])
        assert (old.id, old.source, old.ingested_at, old.url) == ("backups", "backups.md", 5.0, None)
        chunk = (await catalog.get_chunks(["backups#0"]))["backups#0"]
        assert (chunk.text, chunk.url, chunk.updated_at) == ("Backups run nightly at 02:00.", None, 5.0)

        info, chunks, terms = indexed_document("ports", SALES, ["The console listens on port 8080."])
        await catalog.replace_document(dataclasses.replace(info, url=URL, ingested_at=9.0), chunks, terms)
        assert (await catalog.get_document("ports")) == dataclasses.replace(info, url=URL, ingested_at=9.0)
        assert (await catalog.get_chunks(["ports#0"]))["ports#0"].url == URL
    async with Catalog(path):  # opening a migrated file again changes nothing
        pass
    with sqlite3.connect(path) as db:
        assert [row[1] for row in db.execute("PRAGMA table_info(documents)")][-1] == "url"


# --- end to end: an upload's URL reaches the answer -------------------------------------------------------------

TOKEN = "citation-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEPLOY = b"# Deploy guide\n\n## Linux\n\nThe default port of the web console is 8080.\n"


async def test_an_api_upload_url_reaches_the_listing_and_the_answers_citations(
        make_settings: Callable[..., Settings]) -> None:
    async with Teambot(make_settings(api_token=TOKEN)) as teambot, web_app_client(teambot) as api:
        where = {"workspace": "W", "channel": "C"}
        for url, error in [("javascript:alert(1)", "'url' must be an http:// or https:// URL"),
                           ("https://x.example.com/|<!everyone>", "'url' must be an http:// or https:// URL"),
                           ("https://x.example.com/" + "a" * MAX_URL_CHARS, "'url' is longer than 2048 characters")]:
            response = await api.post("/api/v1/documents", headers=AUTH, data=_form(("guide.md", DEPLOY), url=url,
                                                                                     **where))
            assert response.status == 400 and (await response.json())["error"] == error
        response = await api.post("/api/v1/documents", headers=AUTH,
                                  data=_form(("a.md", DEPLOY), ("b.md", DEPLOY), url=URL, **where))
        assert response.status == 400 and "one file" in (await response.json())["error"]
        assert await teambot.knowledge.list_documents([]) == []

        response = await api.post("/api/v1/documents", headers=AUTH, data=_form(("guide.md", DEPLOY), url=URL,
                                                                                 **where))
        assert response.status == 200, await response.text()
        [result] = (await response.json())["results"]
        assert result["document"]["url"] == URL
        listed = await api.get("/api/v1/documents", params=where, headers=AUTH)
        assert [d["url"] for d in (await listed.json())["documents"]] == [URL]

        # The same content under a new URL updates the link; without one, the link stays.
        moved = URL.replace("ops", "platform")
        response = await api.post("/api/v1/documents", headers=AUTH, data=_form(("guide.md", DEPLOY), url=moved,
                                                                                 **where))
        [relinked] = (await response.json())["results"]
        assert (relinked["status"], relinked["document"]["url"]) == ("replaced", moved)
        assert relinked["document"]["ingested_at"] == result["document"]["ingested_at"], "the content did not change"
        response = await api.post("/api/v1/documents", headers=AUTH, data=_form(("guide.md", DEPLOY), **where))
        [unchanged] = (await response.json())["results"]
        assert (unchanged["status"], unchanged["document"]["url"]) == ("unchanged", moved)

        await teambot.knowledge.settle()
        response = await api.post("/api/v1/ask", headers=AUTH,
                                  json={"question": "What is the default port of the web console?", **where})
        assert response.status == 200, await response.text()
        [citation] = (await response.json())["citations"]
        assert citation["source"] == "guide.md" and citation["url"] == moved
        assert citation["updated_at"] is not None
