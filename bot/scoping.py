"""Which knowledge a message may see. Enforced in the stores' queries, never by the prompt."""

from __future__ import annotations

from bot.events import IncomingMessage, Scope


def visible_scopes(message: IncomingMessage) -> list[Scope]:
    """A channel (and its threads) sees its own documents plus the workspace-wide ones.

    A DM sees the workspace-wide documents and whatever was uploaded in that DM itself.
    """
    own = message.scope
    return [own, own.workspace_wide()]


def upload_scope(message: IncomingMessage) -> Scope:
    """Documents uploaded with a message belong to the channel it was sent in."""
    return message.scope
