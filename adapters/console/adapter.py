"""`teambot chat`: a terminal conversation through the same dispatcher as every platform."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TextIO

from adapters.base import Adapter
from adapters.console import translate
from adapters.console.terminal import for_terminal, source_line
from bot.commands import FileOutcome, outcomes_text
from bot.core.ports import BotCore
from bot.core.values import Attachment, IncomingMessage, Reply, Scope
from bot.uploads import walk_folder


class ConsoleStream:
    """Prints the answer as it streams, then its sources."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._shown = ""

    def _write(self, text: str) -> None:
        self._out.write(for_terminal(text))  # answers quote documents, and documents come from anyone

    async def working(self) -> None:
        self._write("teambot> ")
        self._out.flush()

    async def push(self, *, text_so_far: str, delta: str) -> None:
        self._shown = text_so_far
        self._write(delta)
        self._out.flush()

    async def finish(self, reply: Reply) -> None:
        # Print whatever the stream has not shown yet (all of it for extractive answers,
        # a trailing notice for streamed ones).
        shown = self._shown.strip()
        if reply.text.startswith(shown):
            self._write(reply.text[len(shown):])
        else:
            self._write("\n" + reply.text)
        self._write("\n")
        if reply.citations:
            self._write("Sources:\n")
            now = time.time()
            for citation in reply.citations:
                self._write(source_line(citation, now=now) + "\n")
        if reply.consulted_text():
            self._write(reply.consulted_text() + "\n")
        self._write("\n")
        self._out.flush()


async def stdin_lines() -> AsyncIterator[str]:
    """Lines from standard input without blocking the event loop."""
    if sys.stdin is None:  # started with standard input closed: nothing to read
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
        # Only pipes, sockets and terminals can be watched by epoll. Anything else (a regular file,
        # /dev/null) would fail only later, inside the loop, and leave the chat waiting forever.
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or sys.stdin.isatty()):
            raise ValueError("not a pipe, socket or terminal")
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (ValueError, OSError):
        # Reading such input never blocks for long, so a thread does it.
        while line := await asyncio.to_thread(sys.stdin.readline):
            yield line
        return
    while line := await reader.readline():
        yield line.decode("utf-8", errors="replace")


_LOG_FILE_BYTES = 5 * 1024 * 1024


@contextmanager
def logs_set_aside(path: Path) -> Iterator[Path | None]:
    """While chatting in this terminal, write the process's logs to `path` instead of the terminal.

    Log lines (a failed answer's JSON record with its traceback is kilobytes) would otherwise print
    into the conversation; the user sees the one-line reply, the file keeps the details. The file
    rotates at 5 MB, one old file kept. Yields None when no handler writes to the terminal.
    """
    root = logging.getLogger()
    terminal = [h for h in root.handlers if type(h) is logging.StreamHandler
                and getattr(h, "stream", None) in (sys.stderr, sys.stdout)]
    if not terminal:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = RotatingFileHandler(path, maxBytes=_LOG_FILE_BYTES, backupCount=1, encoding="utf-8")
    to_file.setFormatter(terminal[0].formatter)
    to_file.setLevel(terminal[0].level)
    for log_filter in terminal[0].filters:
        to_file.addFilter(log_filter)
    for handler in terminal:
        root.removeHandler(handler)
    root.addHandler(to_file)
    try:
        yield path
    finally:
        root.removeHandler(to_file)
        to_file.close()
        for handler in terminal:
            root.addHandler(handler)


class ConsoleAdapter(Adapter):
    """Reads questions and commands from lines of text and prints streamed answers."""

    platform = translate.PLATFORM

    def __init__(self, teambot: BotCore, *, channel: str = "general", thread: str = "main",
                 lines: AsyncIterator[str] | None = None, out: TextIO | None = None) -> None:
        self.teambot = teambot
        self.channel = channel
        self.thread = thread
        self._lines = lines
        self._out = out or sys.stdout

    def _write(self, text: str) -> None:
        self._out.write(for_terminal(text))  # document names, sections and listings come from anyone

    @property
    def scope(self) -> Scope:
        return Scope(translate.PLATFORM, translate.WORKSPACE, self.channel)

    @property
    def conversation_key(self) -> str:
        return self._message().conversation_key

    def _message(self, text: str = "") -> IncomingMessage:
        return translate.to_message(text, channel=self.channel, thread=self.thread)

    def _say(self, text: str) -> None:
        self._write(text + "\n")
        self._out.flush()

    def _prompt(self) -> None:
        self._write(f"[{self.channel}/{self.thread}] you> ")
        self._out.flush()

    async def run(self) -> None:
        with logs_set_aside(self.teambot.settings.data_dir / "logs" / "console.log") as log_path:
            self._say(f"teambot chat: channel {self.channel!r}, thread {self.thread!r}. Type /help for commands.")
            if log_path is not None:
                self._say(f"(logs go to {log_path})")
            lines = self._lines if self._lines is not None else stdin_lines()
            self._prompt()
            async for line in lines:
                if not await self.handle_line(line):
                    break
                self._prompt()
            self._say("")

    async def handle_line(self, line: str) -> bool:
        """Handle one line; False means the user asked to quit."""
        command = translate.parse_command(line)
        if command is None:
            if line.strip():
                await self.teambot.commands.ask(self._message(line), ConsoleStream(self._out))
            return True
        match command:
            case translate.Quit():
                return False
            case translate.Help():
                self._say(translate.HELP)
            case translate.Invalid(reason=reason):
                self._say(reason)
            case translate.SwitchThread(name=name):
                self.thread = name
                self._say(f"Now in thread {name!r}.")
            case translate.Forget():
                await self.teambot.commands.forget(self.conversation_key)
                self._say(f"Forgot the history of thread {self.thread!r}.")
            case translate.Documents(words=words):
                # The person at the terminal runs the bot: trusted, as `teambot docs delete` is.
                result = await self.teambot.commands.documents(self._message(), words, command="/kb", trusted=True)
                self._say(result.text())
            case translate.Upload(paths=paths):
                self._say(outcomes_text(await self._upload(paths)))
        return True

    async def _upload(self, paths: tuple[str, ...]) -> list[FileOutcome]:
        outcomes: list[FileOutcome] = []
        for raw in paths:
            path, files = await asyncio.to_thread(_files_at, raw)
            if not files:
                self._say(f"✗ {raw}: no supported files in this folder")
            for file in files:
                # One file in memory at a time, however large the folder.
                try:
                    data = await asyncio.to_thread(file.read_bytes)
                except OSError as exc:
                    self._say(f"✗ {file if file != path else raw}: {exc.strerror or 'cannot read the file'}")
                    continue
                outcomes += await self.teambot.commands.ingest(
                    [Attachment(name=file.name, data=data, size=len(data))], scope=self.scope, uploader=translate.USER,
                )
        return outcomes


def _files_at(raw: str) -> tuple[Path, list[Path]]:
    """The path typed and the files to read there (blocking: run it in a thread). A folder is read
    as `teambot ingest` reads it: its supported documents, recursively."""
    path = Path(raw).expanduser()
    return path, walk_folder(path) if path.is_dir() else [path]
