"""Which knowledge a message may see. Enforced in the stores' queries, never by the prompt."""

from __future__ import annotations

from bot.events import IncomingMessage, Scope


def visible_scopes(message: IncomingMessage) -> list[Scope]:
    """A channel (and its threads) sees its own documents plus the workspace-wide ones; a DM sees
    only the workspace-wide ones (a DM is nobody's channel, so nothing is private to it)."""
    if message.is_dm:
        return [message.scope.workspace_wide()]
    return [message.scope, message.scope.workspace_wide()]


def upload_scope(message: IncomingMessage) -> Scope:
    """Files sent in a channel belong to it; files sent in a DM would be workspace-wide (admins only)."""
    return message.scope.workspace_wide() if message.is_dm else message.scope
