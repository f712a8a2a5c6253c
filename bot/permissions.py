"""Who may add and delete documents, and who is an admin (workspace-wide knowledge).

Entries in settings are `platform:user_id` or `platform:role:ROLE` (a Discord role id or name);
`*` means everyone. Admins may always upload and delete, and only they may touch the
workspace-wide scope, which every channel of the workspace can see.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.events import WORKSPACE_WIDE, Scope
from bot.settings import Settings


class PermissionDenied(Exception):
    """The person may not do this; `str(error)` is the one-line reason shown to them."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Someone acting on a platform, with their roles there (Discord roles; empty elsewhere)."""

    platform: str
    user: str
    roles: frozenset[str] = field(default_factory=frozenset)


def _entries(raw: str) -> frozenset[str]:
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class Permissions:
    admins: frozenset[str] = frozenset()
    uploaders: frozenset[str] = frozenset({"*"})

    @classmethod
    def from_settings(cls, settings: Settings) -> "Permissions":
        return cls(admins=_entries(settings.admins), uploaders=_entries(settings.uploaders) or frozenset({"*"}))

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
