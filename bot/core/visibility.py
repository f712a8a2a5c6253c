"""Who sees which knowledge, and who may change it. Enforced in the stores' queries, never by the prompt.

Permission entries are `platform:user_id` or `platform:role:ROLE` (a Discord role id or name);
`*` means everyone. Admins may always upload and delete, and only they may touch the
workspace-wide scope, which every channel of the workspace can see.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.errors import PermissionDenied
from bot.core.values import WORKSPACE_WIDE, Actor, IncomingMessage, Scope


def visible_scopes(message: IncomingMessage) -> list[Scope]:
    """A channel (and its threads) sees its own documents plus the workspace-wide ones; a DM sees
    only the workspace-wide ones (a DM is nobody's channel, so nothing is private to it)."""
    if message.is_dm:
        return [message.scope.workspace_wide()]
    return [message.scope, message.scope.workspace_wide()]


def upload_scope(message: IncomingMessage) -> Scope:
    """Files sent in a channel belong to it; files sent in a DM would be workspace-wide (admins only)."""
    return message.scope.workspace_wide() if message.is_dm else message.scope


def _entries(raw: str) -> frozenset[str]:
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class Permissions:
    admins: frozenset[str] = frozenset()
    uploaders: frozenset[str] = frozenset({"*"})

    @classmethod
    def from_entries(cls, *, admins: str, uploaders: str) -> Permissions:
        """From comma-separated entries (TEAMBOT_ADMINS, TEAMBOT_UPLOADERS); no uploaders means everyone."""
        return cls(admins=_entries(admins), uploaders=_entries(uploaders) or frozenset({"*"}))

    @staticmethod
    def _matches(entries: frozenset[str], actor: Actor) -> bool:
        if "*" in entries:
            return True
        if f"{actor.platform}:{actor.user}" in entries:
            return True
        return any(f"{actor.platform}:role:{role}" in entries for role in actor.roles)

    def is_admin(self, actor: Actor) -> bool:
        return self._matches(self.admins, actor)

    def may_manage_documents(self, actor: Actor) -> bool:
        return self.is_admin(actor) or self._matches(self.uploaders, actor)

    def check_manage(self, actor: Actor, scope: Scope) -> None:
        """Raise `PermissionDenied` unless `actor` may add or delete documents in `scope`."""
        if scope.channel == WORKSPACE_WIDE:
            if not self.is_admin(actor):
                raise PermissionDenied(
                    "only admins can change workspace-wide documents (files sent in a DM would be one); "
                    "upload in a channel instead"
                )
        elif not self.may_manage_documents(actor):
            raise PermissionDenied("you are not allowed to add or delete documents here; ask an admin")
