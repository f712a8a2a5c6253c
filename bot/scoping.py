"""Which knowledge a message may see. Enforced in the stores' queries, never by the prompt.

The rules live in the kernel (`bot.core.visibility`); this module names them for the code that
still imports them from here.
"""

from __future__ import annotations

from bot.core.visibility import upload_scope, visible_scopes

__all__ = ["upload_scope", "visible_scopes"]
