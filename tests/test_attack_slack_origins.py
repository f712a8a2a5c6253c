"""Attack: URLs a Slack payload hands the bot (a shortcut's `response_url`, a file's `url_private`) were
checked by host name only. On the configured API's host any other port passed (another service on that
machine got the shortcut's message, or the bot token with a download), plain `http://hooks.slack.com`
passed, and a URL urllib and aiohttp read differently (`https://evil\\@hooks.slack.com/`) passed the
check only to blow up in aiohttp. Slack's response URLs and files are `https://hooks.slack.com/...` and
`https://files.slack.com/...`: only those origins (and the configured API's, exactly) are used now.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.slack.origins import SLACK_FILES_ORIGIN, SLACK_RESPONSE_ORIGIN, Origins
from bot.settings import Settings
from tests.support.fake_slack import FakeSlack
from tests.support.slack_bot import SlackHarness, payload, running_slack, slack_settings

THREAD = [{"user": "U1", "text": "The Falcon freeze starts Friday."}, {"user": "U2", "text": "Thanks!"}]


class Bystander:
    """Another HTTP service on the API's host (loopback), recording every request it gets."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def _record(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path, "auth": request.headers.get("Authorization"),
                              "body": await request.text()})
        return web.Response(text="ok")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record)
        return app


@pytest.fixture
async def bystander() -> AsyncIterator[tuple[Bystander, str]]:
    service = Bystander()
    server = TestServer(service.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield service, f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


@pytest.fixture
async def slack(make_settings: Callable[..., Settings], fake_slack: FakeSlack) -> AsyncIterator[SlackHarness]:
    async with running_slack(slack_settings(make_settings, fake_slack, None), fake_slack) as harness:
        yield harness


async def test_a_shortcut_answer_goes_to_no_other_port_of_the_api_host(
        slack: SlackHarness, bystander: tuple[Bystander, str]) -> None:
    service, elsewhere = bystander
    slack.fake.add_thread("C1", THREAD)
    slack.fake.not_joined["C1"] = "not_in_channel"  # so the answer can only go through the response_url
    for url in (f"{elsewhere}/actions/T1/1", f"https://evil.example\\@{elsewhere.removeprefix('http://')}/x"):
        status, _ = await slack.interaction({**payload("message_action_summarize"), "response_url": url})
        await slack.adapter.idle()
        assert status == 200
    assert service.requests == [], "nothing posted to a response_url Slack would never give"

    # Slack's own response_url (the loopback API's origin here) still gets the one line.
    await slack.interaction({**payload("message_action_summarize"), "response_url": slack.fake.response_url("T1/2")})
    await slack.adapter.idle()
    [told] = slack.fake.of("response_url")
    assert told.params["text"].startswith("I can't summarize this thread")


async def test_the_bot_token_goes_to_no_other_port_of_the_api_host(
        slack: SlackHarness, bystander: tuple[Bystander, str]) -> None:
    service, elsewhere = bystander
    body = payload("app_mention_with_files")
    body["event"]["files"] = [{**slack.fake.add_file("F1", "guide.md", b"# Guide\n\nPort 8080.\n"),
                               "url_private": f"{elsewhere}/files/F1/guide.md",
                               "url_private_download": f"{elsewhere}/files/F1/guide.md"}]
    await slack.event(body)
    [post] = await slack.fake.wait_for(lambda: slack.fake.of("chat.postMessage"))
    assert "✗ guide.md: the file has no download link from Slack" in post.params["text"]
    assert service.requests == [] and slack.fake.downloads == []


@pytest.mark.parametrize("url", [
    "http://hooks.slack.com/actions/T1/1/abc",           # plain HTTP: the message readable on the way
    "https://hooks.slack.com:8443/actions/T1/1/abc",     # another port
    "https://evil.example\\@hooks.slack.com/actions/",   # urllib says hooks.slack.com, aiohttp refuses it
    "https://user:pass@hooks.slack.com/actions/",        # credentials in the URL
    "https://hooks.slack.com.evil.example/actions/",
    "https://evil.example#@hooks.slack.com/",
    "//hooks.slack.com/actions/T1/1/abc",                # no scheme
    "file://hooks.slack.com/etc/passwd",
    "",
])
def test_only_slacks_https_origins_are_allowed(url: str) -> None:
    origins = Origins([SLACK_RESPONSE_ORIGIN, SLACK_FILES_ORIGIN, "https://slack.com/api/"])
    assert not origins.allows(url)


def test_slacks_own_urls_are_allowed() -> None:
    origins = Origins([SLACK_RESPONSE_ORIGIN, "http://127.0.0.1:4000/api/"])
    for url in ("https://hooks.slack.com/app/T1/1700000600/abcdef", "https://HOOKS.slack.com:443/actions/T1/1/a",
                "http://127.0.0.1:4000/actions/T1/1"):
        assert origins.allows(url), url
    assert not origins.allows("http://127.0.0.1:4001/actions/T1/1")
