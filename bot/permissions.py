"""Who may add and delete documents, and who is an admin (workspace-wide knowledge).

The rules live in the kernel (`bot.core.visibility`, `Actor` in `bot.core.values`); this module
names them for the code that still imports them from here.
"""

from __future__ import annotations

from bot.core.errors import PermissionDenied
from bot.core.values import Actor
from bot.core.visibility import Permissions

__all__ = ["Actor", "PermissionDenied", "Permissions"]
