"""A chat thread as a document: "Save to knowledge" stores a thread, with its link, in the channel's knowledge.

The document is Markdown: the link to the thread first (where it can be read in full), a heading
naming the thread, then each message under its author and time. Its name comes from the thread's
root (`thread-2026-12-06-1405-when-does-the-deploy-freeze.md`), so saving the same thread again
replaces the earlier copy, as uploading a file of the same name does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.core.labels import clean_label
from bot.core.values import Attachment, ThreadMessage

NAME_WORDS = 6
"""Words of the root message in the document's name."""
NAME_WORDS_CHARS = 60
TITLE_CHARS = 120


def thread_document_name(messages: Sequence[ThreadMessage]) -> str:
    """`thread-<date>-<hhmm>-<first words of the root>.md` (words lower-cased, joined by hyphens)."""
    root = messages[0]
    words = re.findall(r"\w+", root.text.casefold())[:NAME_WORDS]
    slug = "-".join(words)[:NAME_WORDS_CHARS].strip("-_")
    stamp = f"{root.at:%Y-%m-%d-%H%M}"
    return f"thread-{stamp}-{slug}.md" if slug else f"thread-{stamp}.md"


def thread_document(messages: Sequence[ThreadMessage], *, permalink: str | None, place: str = "") -> Attachment:
    """The thread as a Markdown file ready to ingest: its link first, then every message with author and time.

    `place` names where it was said (`#general`), for the heading. Raises ValueError for an empty thread.
    """
    if not messages:
        raise ValueError("the thread has no messages to save")
    root = messages[0]
    title = clean_label(root.text, max_chars=TITLE_CHARS) or "a thread"
    lines = [permalink or "", "", f"# Thread{f' in {place}' if place else ''}: {title}", ""]
    if not permalink:
        lines = lines[2:]
    lines.append(f"Saved from chat: {len(messages)} message{'s' if len(messages) != 1 else ''}, "
                 f"{root.at:%Y-%m-%d %H:%M} UTC to {messages[-1].at:%Y-%m-%d %H:%M} UTC.")
    for message in messages:
        # A message's own lines are kept; a line that would read as a heading would split the document's
        # sections wrongly, so it is quoted as text.
        body = "\n".join(("\\" + line) if line.lstrip().startswith("#") else line
                         for line in message.text.strip().splitlines())
        lines += ["", f"**{message.author}** · {message.at:%Y-%m-%d %H:%M} UTC", "", body]
    return Attachment(name=thread_document_name(messages), data=("\n".join(lines).strip() + "\n").encode("utf-8"),
                      mime_type="text/markdown")


SUMMARY_PHRASES = re.compile(
    r"^\W*(?:please\s+)?(?:summari[sz]e|sum\s+up|tl;?dr)(?:\s+(?:this|the))?(?:\s+thread)?\W*$"
    r"|^\W*(?:이\s*)?스레드\s*요약(?:해\s*(?:줘|주세요))?\W*$",
    re.IGNORECASE,
)


def asks_for_summary(text: str) -> bool:
    """True when a mention says only "summarize this thread" (or "tl;dr", "스레드 요약해 줘")."""
    return SUMMARY_PHRASES.match(text.strip()) is not None
