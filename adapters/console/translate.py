"""Console input lines -> normalized messages or console commands."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from bot.core.values import IncomingMessage

PLATFORM = "console"
WORKSPACE = "local"
USER = "you"


@dataclass(frozen=True, slots=True)
class Upload:
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SwitchThread:
    name: str


@dataclass(frozen=True, slots=True)
class Forget:
    pass


@dataclass(frozen=True, slots=True)
class Documents:
    """`/docs`, `/kb ...` or `/delete NAME`: the documents command's words, which the command service reads."""

    words: str


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class Invalid:
    reason: str


ConsoleCommand = Upload | SwitchThread | Forget | Documents | Help | Quit | Invalid

HELP = """Ask a question, or:
  /upload PATH...   add files, or folders of them, to this channel
  /docs             list the documents this channel answers from
  /delete DOC       delete a document (by name or id)
  /thread NAME      switch to (or start) another thread
  /forget           clear this thread's history
  /quit             leave (or Ctrl-D)"""


def parse_command(line: str) -> ConsoleCommand | None:
    """A slash command, or None when the line is a question."""
    stripped = line.strip()
    if not stripped.startswith("/"):
        return None
    try:
        parts = shlex.split(stripped)
    except ValueError as exc:
        return Invalid(f"cannot parse the command: {exc}")
    name, args = parts[0].lower(), parts[1:]
    if name == "/upload":
        return Upload(tuple(args)) if args else Invalid("usage: /upload PATH...")
    if name == "/thread":
        return SwitchThread(args[0]) if len(args) == 1 else Invalid("usage: /thread NAME")
    if name == "/forget":
        return Forget()
    if name in ("/docs", "/kb"):  # `/kb`, `/kb list`, `/kb delete DOC`, as on Slack and Discord
        return Documents(" ".join(args))
    if name == "/delete":
        return Documents(" ".join(["delete", *args]))
    if name in ("/help", "/?"):
        return Help()
    if name in ("/quit", "/exit"):
        return Quit()
    return Invalid(f"unknown command {name}; type /help")


def to_message(text: str, *, channel: str, thread: str, user: str = USER) -> IncomingMessage:
    return IncomingMessage(
        platform=PLATFORM, workspace=WORKSPACE, channel=channel, thread=thread, user=user,
        text=text.strip(), mentions_bot=True,
    )
