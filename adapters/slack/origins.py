"""Where the bot may send what a Slack payload asks it to: a `response_url`, a file's `url_private`.

Those URLs come from payloads, so they are checked before anything is sent: the bot token goes with
a file download, and a `response_url` is posted to. Slack serves both over HTTPS only
(`https://hooks.slack.com/...`, `https://files.slack.com/...`); the configured Web API base (a
loopback fake in tests, or a proxy) is trusted as well. A URL passes when its scheme, host and port
are exactly one of those origins, as aiohttp (yarl) parses it to send the request, so no other
port, plain HTTP, credentials in the URL, or a string other parsers read differently gets through.
"""

from __future__ import annotations

from collections.abc import Iterable

from yarl import URL

SLACK_RESPONSE_ORIGIN = "https://hooks.slack.com"
"""Where Slack's `response_url`s point."""
SLACK_FILES_ORIGIN = "https://files.slack.com"
"""Where Slack's files (`url_private`, `url_private_download`) are downloaded from."""

Origin = tuple[str, str, int]


def origin_of(url: str) -> Origin | None:
    """(scheme, host, port) of an absolute http(s) URL without credentials, as aiohttp would request it;
    None for anything else (relative, another scheme, `user@`, or a string yarl refuses)."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):  # e.g. a backslash in the authority, which urllib reads differently
        return None
    if (parsed.scheme not in ("http", "https") or not parsed.host or parsed.port is None
            or parsed.user is not None or parsed.password is not None):
        return None
    return parsed.scheme, parsed.host.lower(), parsed.port


class Origins:
    """A set of origins a URL from a payload must be on (`allows`)."""

    def __init__(self, urls: Iterable[str]) -> None:
        self._allowed = {origin for origin in map(origin_of, urls) if origin is not None}

    def allows(self, url: str) -> bool:
        """True when `url` is on one of the origins exactly (scheme, host and port)."""
        return origin_of(url) in self._allowed
