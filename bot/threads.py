"""Chat threads, the platform-free part: their messages cleaned and bounded as every adapter reads them, and
a thread as a document ("Save to knowledge" stores a thread, with its link, in the channel's knowledge).

A thread's messages are strangers' text: each is cleaned (`clean_message_text`: control and invisible
characters removed, line breaks kept) and cut, and a thread is bounded (`bound_thread`): its root and
the most recent replies, within a count and a total size.

The document is Markdown: the link to the thread first (where it can be read in full), a heading
naming the thread, then each message under its author and time. Its name comes from the thread's
root (`thread-2026-12-06-1405-when-does-the-deploy-freeze.md`), so saving the same thread again
replaces the earlier copy, as uploading a file of the same name does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.core.labels import clean_label, is_hidden
from bot.core.values import Attachment, ThreadMessage

MAX_THREAD_MESSAGES = 40
"""The root and the 39 most recent replies: a question is about what was said lately."""
MAX_MESSAGE_CHARS = 4000
"""One message's text is cut here (Slack allows 40,000 characters, Discord 4,000)."""
MAX_THREAD_CHARS = 40_000
"""All the messages kept, together: older replies are dropped past it (the root always stays)."""
MAX_AUTHOR_CHARS = 80



def clean_message_text(text: str, *, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """A message's text without control and invisible characters (line breaks kept, tabs as spaces, runs of
    spaces and of blank lines collapsed), cut to `max_chars` with "…"."""
    text = text[: max_chars * 2]  # cleaning only shrinks it: a huge message costs no more than a long one
    lines = ["".join(" " if char == "\t" else char for char in line if char == "\t" or not is_hidden(char))
             for line in text.splitlines()]
    cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(" ".join(line.split()) for line in lines)).strip()
    return cleaned if len(cleaned) <= max_chars else cleaned[: max_chars - 1].rstrip() + "…"


def author_label(*names: object) -> str:
    """The first of `names` with something printable in it, as a one-line label; "someone" if none has."""
    for name in names:
        label = clean_label(str(name or ""), max_chars=MAX_AUTHOR_CHARS)
        if label:
            return label
    return "someone"


def bound_thread(root: ThreadMessage | None, replies: Sequence[ThreadMessage]) -> tuple[ThreadMessage, ...]:
    """The root and the most recent replies within `MAX_THREAD_MESSAGES` and `MAX_THREAD_CHARS`, oldest first."""
    kept: list[ThreadMessage] = []
    room = MAX_THREAD_CHARS - (len(root.text) if root else 0)
    for reply in reversed(replies):
        if len(kept) >= MAX_THREAD_MESSAGES - (1 if root else 0) or len(reply.text) > room:
            break
        kept.append(reply)
        room -= len(reply.text)
    return ((root,) if root else ()) + tuple(reversed(kept))


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
    """The thread as a Markdown file ready to ingest: its link first (and as the document's URL, which
    citations link to), then every message with author and time.

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
                      mime_type="text/markdown", source_url=permalink)


SUMMARY_PHRASES = re.compile(
    r"^\W*(?:please\s+)?(?:summari[sz]e|sum\s+up|tl;?dr)(?:\s+(?:this|the))?(?:\s+thread)?\W*$"
    r"|^\W*(?:이\s*)?스레드\s*요약(?:해\s*(?:줘|주세요))?\W*$",
    re.IGNORECASE,
)


def asks_for_summary(text: str) -> bool:
    """True when a mention says only "summarize this thread" (or "tl;dr", "스레드 요약해 줘")."""
    return SUMMARY_PHRASES.match(text.strip()) is not None
