"""Normalized events: what every adapter turns platform payloads into.

The definitions live in the kernel (`bot.core.values`); this module names them for the code
that still imports them from here.
"""

from __future__ import annotations

from bot.core.values import (
    WORKSPACE_WIDE,
    Attachment,
    Citation,
    IncomingMessage,
    Reply,
    ReplyMode,
    Scope,
    Visibility,
    conversation_key,
)

__all__ = [
    "WORKSPACE_WIDE", "Attachment", "Citation", "IncomingMessage", "Reply", "ReplyMode", "Scope", "Visibility",
    "conversation_key",
]
