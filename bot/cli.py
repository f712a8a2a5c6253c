"""The `teambot` command: ingest, ask, docs, chat, stats, feedback, serve.

Errors end with a non-zero exit code and one line on stderr, never a traceback.

Only the kernel and the standard library are imported up front: `teambot --help` (and a
mistyped command) must not wait for Chroma, LangGraph or the model client to load. Each
command imports what it needs (tests/test_layers.py checks this).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import select
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.base import CollectingStream
from adapters.console import translate as console
from adapters.console.terminal import for_terminal, source_line
from bot.core.errors import IngestError, StoreUnavailable
from bot.core.links import safe_url
from bot.core.values import Attachment, Scope

if TYPE_CHECKING:
    from bot.app import Teambot
    from bot.settings import Settings


class CliError(Exception):
    """A user error; the message is printed as one line."""


def _teambot(settings: Settings) -> Teambot:
    """The running core (imported here: it loads Chroma, LangGraph and the stores)."""
    from bot.app import Teambot  # noqa: PLC0415

    return Teambot(settings)


def _scope(args: argparse.Namespace) -> Scope:
    return Scope(console.PLATFORM, console.WORKSPACE, args.channel)


def _collect_files(paths: Sequence[str]) -> list[Path]:
    """Explicit files as given; directories walked for supported, non-hidden files."""
    from bot.uploads import walk_folder  # noqa: PLC0415

    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files.extend(walk_folder(path))
        elif path.exists():
            files.append(path)
        else:
            raise CliError(f"{raw}: no such file or directory")
    if not files:
        raise CliError("no supported files found in the given paths")
    return files


async def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm  # noqa: PLC0415

    files = _collect_files(args.paths)
    failures = 0
    async with _teambot(settings) as teambot:
        with tqdm(total=len(files), unit="file", disable=len(files) < 3 or not sys.stderr.isatty(),
                  file=sys.stderr) as progress:
            for path in files:
                try:
                    data = await asyncio.to_thread(path.read_bytes)
                except OSError as exc:
                    outcome_line, failed = f"✗ {path}: {exc.strerror or 'cannot read'}", True
                else:
                    [outcome] = await teambot.commands.ingest(
                        [Attachment(name=path.name, data=data)], scope=_scope(args), uploader=console.USER,
                    )
                    outcome_line, failed = outcome.line(), outcome.error is not None
                failures += failed
                progress.write(outcome_line, file=sys.stdout)
                progress.update(1)
    if failures:
        print(f"teambot: {failures} of {len(files)} files could not be ingested", file=sys.stderr)
        return 1
    return 0


async def _ask(settings: Settings, args: argparse.Namespace) -> int:
    question = " ".join(args.question).strip()
    if not question:
        raise CliError("the question is empty")
    async with _teambot(settings) as teambot:
        message = console.to_message(question, channel=args.channel, thread=args.thread)
        stream = CollectingStream()
        reply = await teambot.dispatcher.handle(message, stream)
    if args.json:
        print(json.dumps({
            "answer": reply.text,
            "citations": [{"source": c.source, "location": c.location, "snippet": c.snippet, "url": c.link,
                           "updated_at": c.updated_at} for c in reply.citations],
            "consulted": [{"source": c.source, "location": c.location} for c in reply.consulted_only],
            "thread": args.thread,
            "answered": reply.answered,
            "mode": reply.mode,
        }, ensure_ascii=False, indent=2))
    else:
        print(for_terminal(reply.text))
        if reply.citations:
            now = time.time()
            print("\nSources:\n" + for_terminal("\n".join(source_line(c, now=now) for c in reply.citations)))
        if reply.consulted_text():
            print(for_terminal(reply.consulted_text()))
    return 1 if reply.error else 0


async def _docs(settings: Settings, args: argparse.Namespace) -> int:
    # What the console's /docs and /delete do, in the channel named: the same commands, the same lines.
    place = console.to_message("", channel=args.channel, thread="")
    async with _teambot(settings) as teambot:
        if args.docs_command == "delete":
            # The person at the terminal runs the bot: trusted, as in `teambot chat`.
            deletion = await teambot.commands.delete(place, args.reference, trusted=True)
            if deletion.document is None:
                raise CliError(deletion.error)
            print(for_terminal(deletion.text()))
            return 0
        listing = await teambot.commands.list_documents(place)
    if listing.error is not None:
        raise CliError(listing.error)
    if args.json:
        print(json.dumps([{
            "id": d.id, "source": d.source, "title": d.title, "chunks": d.chunk_count, "bytes": d.size_bytes,
            "uploader": d.uploader, "ingested_at": d.ingested_at, "channel": d.scope.channel, "url": safe_url(d.url),
        } for d in listing.documents], ensure_ascii=False, indent=2))
    else:
        print(for_terminal(listing.text()))
    return 0


async def _chat(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.console.adapter import ConsoleAdapter  # noqa: PLC0415

    async with _teambot(settings) as teambot, ConsoleAdapter(teambot, channel=args.channel, thread=args.thread) as chat:
        await chat.run()
    return 0


async def _stats(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import datetime  # noqa: PLC0415

    from bot.reports import render_text, stats_report  # noqa: PLC0415
    from bot.reports.store import open_usage  # noqa: PLC0415

    async with open_usage(settings) as data:
        report = await stats_report(data.usage, kind=args.period, now=datetime.now(UTC), feedback=data.feedback)
    print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) if args.json
          else for_terminal(render_text(report)))
    return 0


async def _feedback(settings: Settings, args: argparse.Namespace) -> int:
    from bot.feedback import vote_line, vote_summary  # noqa: PLC0415
    from bot.reports.store import open_usage  # noqa: PLC0415

    if (args.platform is None) != (args.workspace is None):
        raise CliError("--platform and --workspace go together (a workspace is one platform's)")
    helpful = None if args.rating == "all" else args.rating == "helpful"
    async with open_usage(settings) as data:
        votes = await data.feedback.recent_votes(days=args.days, platform=args.platform, workspace=args.workspace,
                                            helpful=helpful)
    if args.json:
        print(json.dumps([vote_summary(vote) for vote in votes], ensure_ascii=False, indent=2))
    elif not votes:
        print(f"No votes in the last {args.days} days.")
    else:
        print("\n".join(for_terminal(vote_line(vote)) for vote in votes))
    return 0


async def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from bot.serve import NothingToServe, serve  # noqa: PLC0415

    try:
        await serve(settings, console=args.console, port=args.port)
    except NothingToServe as exc:
        raise CliError(str(exc)) from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="teambot", description="A knowledge bot for team chat.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_channel(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--channel", default="general", help="knowledge scope (default: general)")
        return sub

    ingest = with_channel(commands.add_parser("ingest", help="add files or folders to a channel's knowledge"))
    ingest.add_argument("paths", nargs="+", metavar="PATH")
    ingest.set_defaults(run=_ingest)

    ask = with_channel(commands.add_parser("ask", help="ask one question"))
    ask.add_argument("question", nargs="+")
    ask.add_argument("--thread", default="cli", help="thread name; the same thread remembers earlier turns")
    ask.add_argument("--json", action="store_true", help="print the answer and citations as JSON")
    ask.set_defaults(run=_ask)

    docs = commands.add_parser("docs", help="list or delete documents")
    docs_commands = docs.add_subparsers(dest="docs_command", required=True, metavar="ACTION")
    listing = with_channel(docs_commands.add_parser("list", help="list documents"))
    listing.add_argument("--json", action="store_true")
    delete = with_channel(docs_commands.add_parser("delete", help="delete a document by name or id"))
    delete.add_argument("reference", metavar="NAME_OR_ID")
    docs.set_defaults(run=_docs)

    chat = with_channel(commands.add_parser("chat", help="talk to the bot in the terminal"))
    chat.add_argument("--thread", default="main")
    chat.set_defaults(run=_chat)

    stats = commands.add_parser("stats", help="usage statistics of the period so far, against the previous one "
                                 "(every workspace and platform, questions included: for the local operator)")
    stats.add_argument("--period", choices=("day", "week", "month"), default="week", help="default: week")
    stats.add_argument("--json", action="store_true", help="print the numbers as JSON")
    stats.set_defaults(run=_stats)

    feedback = commands.add_parser("feedback", help="the votes on answers (for the operator: every workspace)")
    feedback_commands = feedback.add_subparsers(dest="feedback_command", required=True, metavar="ACTION")
    votes = feedback_commands.add_parser(
        "list", help="votes of the last days, newest first, with the question, the documents cited and why")
    votes.add_argument("--days", type=int, default=7, choices=range(1, 401), metavar="N",
                       help="how many days back, today included (default: 7)")
    votes.add_argument("--rating", choices=("not_helpful", "helpful", "all"), default="all",
                       help="only 👎 (not_helpful) or 👍 (helpful) votes (default: all)")
    votes.add_argument("--platform", help="only this platform's workspace (with --workspace)")
    votes.add_argument("--workspace", help="only this workspace (Slack team, Discord server id)")
    votes.add_argument("--json", action="store_true", help="print the votes as JSON")
    feedback.set_defaults(run=_feedback)

    serve = commands.add_parser("serve", help="run the bot on every configured platform")
    serve.add_argument("--port", type=int, default=None, help="HTTP port (default: TEAMBOT_HTTP_PORT)")
    serve.add_argument("--console", action="store_true", help="also chat in this terminal")
    serve.set_defaults(run=_serve)
    return parser


#: Commands that run until they are stopped: for them SIGTERM is the ordinary end, not a failure.
_RUN_UNTIL_STOPPED = frozenset({"chat", "serve"})
#: Signals that end a command the way Ctrl-C does (SIGHUP: the terminal of a chat was closed).
_TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


async def _run_until_terminated(settings: Settings, args: argparse.Namespace) -> int:
    """Run the command; SIGTERM (or SIGHUP) ends it as Ctrl-C does, so everything it opened
    closes in order, the embedded Redis last.

    (`serve` replaces the SIGTERM handler with its own graceful one once it is up.)
    """
    loop = asyncio.get_running_loop()
    command = asyncio.current_task()
    assert command is not None
    terminated = False

    def on_terminate() -> None:
        nonlocal terminated
        if not terminated:  # a second signal must not interrupt the closing the first one started
            terminated = True
            command.cancel()

    for signal_number in _TERMINATING_SIGNALS:
        try:
            loop.add_signal_handler(signal_number, on_terminate)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        code: int = await args.run(settings, args)
        return code
    except asyncio.CancelledError:
        if not terminated:
            raise
        command.uncancel()
        return 0 if args.command in _RUN_UNTIL_STOPPED else 128 + signal.SIGTERM
    finally:
        for signal_number in _TERMINATING_SIGNALS:
            try:
                loop.remove_signal_handler(signal_number)
            except (NotImplementedError, RuntimeError):
                pass


def _stdout_is_closed() -> bool:
    """True when nothing reads standard output any more (`teambot ask ... | head -1`)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLERR)
        return bool(poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `teambot` console script."""
    args = build_parser().parse_args(argv)
    from bot.observability import configure_logging  # noqa: PLC0415 - not needed for --help
    from bot.redis_server import RedisServerError  # noqa: PLC0415
    from bot.settings import SettingsError, load_settings  # noqa: PLC0415

    # What the bot stores (catalog, vectors, history) is readable by its own user only.
    os.umask(0o077)
    try:
        settings = load_settings()
        configure_logging(level=settings.log_level, json_format=settings.log_format == "json",
                          secrets=settings.secret_values(), library_debug=settings.log_library_debug)
        code = asyncio.run(_run_until_terminated(settings, args))
        sys.stdout.flush()  # a closed pipe shows here, where it can still be handled, not at exit
        return code
    except BrokenPipeError as exc:
        if not _stdout_is_closed():
            print(f"teambot: error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        # The reader is gone: nothing more to say, and the interpreter's last flush must not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except (CliError, SettingsError, IngestError, StoreUnavailable, RedisServerError) as exc:
        print(f"teambot: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, SettingsError) else 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line for the user; details at DEBUG level
        logging.getLogger(__name__).debug("unexpected error", exc_info=True)
        print(f"teambot: error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
