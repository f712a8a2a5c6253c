"""A chat thread, platform-free: asking for a summary, a saved thread's name and Markdown."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.values import ThreadMessage
from bot.threads import asks_for_summary, clean_message_text, thread_document

AT = datetime(2026, 12, 4, 17, 2, tzinfo=UTC)


def test_only_a_bare_request_for_a_summary_is_one() -> None:
    for text in ("summarize this thread", "Summarise the thread.", "tl;dr", "please sum up this thread?",
                 "스레드 요약해 줘", "이 스레드 요약"):
        assert asks_for_summary(text), text
    for text in ("summarize the deploy guide", "how do I summarize a report?", "when is the freeze?"):
        assert not asks_for_summary(text), text


def test_a_saved_thread_is_named_after_its_root_and_keeps_each_message_under_its_author() -> None:
    messages = [ThreadMessage("Dana", "When does the deploy freeze start?", AT),
                ThreadMessage("Lee", "# Friday 18:00\nuntil Monday", AT.replace(minute=5))]
    document = thread_document(messages, permalink="https://test.slack.com/archives/C1/p1", place="#deploys")
    assert document.name == "thread-2026-12-04-1702-when-does-the-deploy-freeze-start.md"
    text = (document.data or b"").decode()
    assert text.splitlines()[0] == "https://test.slack.com/archives/C1/p1"
    assert "# Thread in #deploys: When does the deploy freeze start?" in text
    assert "**Lee** · 2026-12-04 17:05 UTC\n\n\\# Friday 18:00\nuntil Monday" in text, \
        "a message's own heading line does not split the document"


def test_message_text_is_cleaned_and_cut() -> None:
    assert clean_message_text("a\x1b[0m\u202eb\t c\n\n\n\nd\x00") == "a[0mb c\n\nd"
    assert len(clean_message_text("x" * 50_000)) == 4000
