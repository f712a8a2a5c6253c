"""Attack: a fenced code block whose opening line is nearly as long as a Discord message.

`adapters/discord/stream._split_code` computes `room = limit - len(opening) - 5`; with an opening
fence line of 1,995 characters or more, `room <= 0` and `while len(line) > room` never ends: it
appends empty pieces forever, holding the event loop and eating memory. A model answer of this shape
(an info string or minified JSON right after ``` followed by more lines) reaches `split_message`
from `DiscordReplyStream.push` and `finish`.

Run in a child process capped at 512 MB and 60 s, so the test fails instead of hanging.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (512 * 1024 * 1024, 512 * 1024 * 1024))
    from adapters.discord.stream import MESSAGE_LIMIT, split_message
    answer = sys.argv[1]
    pieces = split_message(answer)
    assert pieces and all(len(p) <= MESSAGE_LIMIT for p in pieces), [len(p) for p in pieces]
    print("ok", len(pieces))
""")


@pytest.mark.parametrize("answer", [
    # More lines follow the long opening line: an endless loop (MemoryError under the cap).
    "Here is the config:\n\n```" + "x" * 2100 + "\n{\"port\": 8080}\n```\n\nDone [1].",
    # Nothing follows it (an unclosed fence, as mid-stream): one 2,100-character piece, which
    # Discord refuses (message content over 2,000 characters), so the answer is never shown.
    "Here is the config:\n\n```" + "x" * 2100,
], ids=["with-body", "opening-only"])
def test_a_long_opening_fence_line_is_split_not_looped_on(answer: str) -> None:
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, answer], cwd=ROOT, capture_output=True, text=True,
                              timeout=60, check=False)
    except subprocess.TimeoutExpired:
        raise AssertionError("split_message did not return within 60 s") from None
    assert done.returncode == 0 and done.stdout.startswith("ok"), (done.returncode, done.stderr[-500:])
