"""manifest.yml declares exactly what the code listens to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from slack_bolt.async_app import AsyncApp

from adapters.slack.listeners import CommandNames, register
from bot.reports.stats import STATS_COMMAND
from bot.settings import Settings

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"
EVENT_SCOPES = {"app_mention": "app_mentions:read", "message.channels": "channels:history",
                "message.groups": "groups:history", "message.im": "im:history", "message.mpim": "mpim:history",
                "assistant_thread_started": "assistant:write", "assistant_thread_context_changed": "assistant:write"}


class _Inert:
    """Handlers that must never run: registration alone is under test."""

    def __getattr__(self, name: str) -> Any:
        def never(*args: Any, **kwargs: Any) -> None:
            raise AssertionError(f"{name} called during registration")
        return never


def _registration(settings: Settings):
    app = AsyncApp(token="xoxb-test", signing_secret="secret")
    return register(app, handlers=_Inert(), commands=CommandNames(
        ask=settings.slack_ask_command, upload=settings.slack_upload_command, kb=settings.slack_kb_command,
        stats=STATS_COMMAND))


def test_manifest_events_and_commands_match_the_listeners(make_settings: Callable[..., Settings]) -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    registration = _registration(make_settings())

    bot_events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {event.split(".")[0] for event in bot_events} == set(registration.events)
    declared_commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert sorted(declared_commands) == sorted(registration.commands)

    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {EVENT_SCOPES[event] for event in bot_events} <= scopes
    assert {"chat:write", "commands", "files:read", "files:write"} <= scopes
    assert registration.actions and registration.views

    # Message shortcuts: each declared one is listened to, and reading a thread (conversations.replies)
    # needs the history scope of every kind of conversation it can be used in.
    shortcuts = manifest["features"]["shortcuts"]
    assert sorted(s["callback_id"] for s in shortcuts) == sorted(registration.shortcuts)
    assert all(s["type"] == "message" and len(s["name"]) <= 24 and len(s["description"]) <= 150 for s in shortcuts)
    assert {"channels:history", "groups:history", "im:history", "mpim:history", "commands"} <= scopes
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert isinstance(manifest["settings"]["socket_mode_enabled"], bool)


def test_manifest_declares_the_agent_view_the_assistant_serves(make_settings: Callable[..., Settings]) -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    registration = _registration(make_settings())
    assert {"assistant_thread_started", "assistant_thread_context_changed"} <= set(registration.events)
    assert manifest["features"]["assistant_view"]["assistant_description"]
    assert "assistant:write" in manifest["oauth_config"]["scopes"]["bot"]
