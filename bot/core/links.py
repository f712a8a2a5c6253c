"""Links to where a document lives, and how long ago it changed: what citations show.

A document's URL comes from outside (an API client, a platform's file object), and every platform
renders it as a link, so only plain web addresses are kept: `http`/`https` with a host, printable
ASCII without spaces, quotes or angle brackets, and bounded. Anything else (`javascript:`,
`data:`, Slack's `<!everyone>` syntax, a URL with a line break) is never stored nor shown as a link.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_URL_CHARS = 2048
"""The longest URL kept: what browsers and chat platforms reliably take."""

_SCHEMES = ("http", "https")
_FORBIDDEN = frozenset('<>"\'`|\\{}^ ')
"""Characters that would end or disguise a link in Slack mrkdwn (`<url|text>`), Discord Markdown
(`[text](<url>)`) or HTML; a real URL has them percent-encoded."""
_SECONDS_PER_DAY = 86_400


def safe_url(url: str | None) -> str | None:
    """`url` if it is a plain `http(s)://host/...` web address fit to show as a link, else None."""
    if not url or len(url) > MAX_URL_CHARS:
        return None
    if not url.isascii() or not url.isprintable() or any(char in _FORBIDDEN for char in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced IPv6 bracket and the like
        return None
    if parts.scheme.lower() not in _SCHEMES or not parts.hostname:
        return None
    return url


def updated_ago(updated_at: float, *, now: float) -> str:
    """`updated today`, `updated yesterday` or `updated N days ago` (a time in the future is today)."""
    days = max(0, int((now - updated_at) // _SECONDS_PER_DAY))
    if days == 0:
        return "updated today"
    if days == 1:
        return "updated yesterday"
    return f"updated {days} days ago"
