"""👍/👎 buttons under Discord answers, and the "what was wrong" choice after a 👎, as persistent components.

Each button's custom id carries what it is about (`teambot:vote:down:<answer id>`), and the buttons are
discord.py `DynamicItem`s, registered on the client at setup (`FeedbackButtons.register`): a click is
handled from its custom id alone, so buttons sent before a restart keep working after it. What a click
does is the adapter's (`FeedbackHandler`); this module only makes and parses the components.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

import discord

VOTE_TEMPLATE = r"teambot:vote:(?P<rating>up|down):(?P<answer>[0-9a-f]{1,64})"
REASON_TEMPLATE = r"teambot:why:(?P<reason>[a-z_]{1,20}):(?P<answer>[0-9a-f]{1,64})"
"""Custom ids (Discord allows 100 characters): answer ids are hex (`bot.core.values.new_answer_id`)."""


class FeedbackHandler(Protocol):
    """What a click does (the adapter): it must answer the interaction within three seconds."""

    async def on_vote(self, interaction: discord.Interaction[Any], *, answer_id: str, helpful: bool) -> None: ...

    async def on_reason(self, interaction: discord.Interaction[Any], *, answer_id: str, reason: str) -> None: ...


class FeedbackButtons:
    """The vote and reason buttons of one client, bound to the handler their clicks go to."""

    def __init__(self, handler: FeedbackHandler) -> None:

        class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=VOTE_TEMPLATE):
            def __init__(self, *, answer_id: str, helpful: bool) -> None:
                super().__init__(discord.ui.Button(
                    style=discord.ButtonStyle.secondary, emoji="👍" if helpful else "👎",
                    custom_id=f"teambot:vote:{'up' if helpful else 'down'}:{answer_id}"))
                self.answer_id, self.helpful = answer_id, helpful

            @classmethod
            async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                                     match: re.Match[str], /) -> VoteButton:
                return cls(answer_id=match["answer"], helpful=match["rating"] == "up")

            async def callback(self, interaction: discord.Interaction[Any]) -> None:
                await handler.on_vote(interaction, answer_id=self.answer_id, helpful=self.helpful)

        class ReasonButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=REASON_TEMPLATE):
            def __init__(self, *, answer_id: str, reason: str, label: str = "") -> None:
                super().__init__(discord.ui.Button(style=discord.ButtonStyle.secondary, label=label or reason,
                                                   custom_id=f"teambot:why:{reason}:{answer_id}"))
                self.answer_id, self.reason = answer_id, reason

            @classmethod
            async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                                     match: re.Match[str], /) -> ReasonButton:
                return cls(answer_id=match["answer"], reason=match["reason"])

            async def callback(self, interaction: discord.Interaction[Any]) -> None:
                await handler.on_reason(interaction, answer_id=self.answer_id, reason=self.reason)

        self._vote = VoteButton
        self._reason = ReasonButton

    def register(self, client: discord.Client) -> None:
        """Handle clicks on these buttons, whenever they were sent (call at setup, before connecting)."""
        client.add_dynamic_items(self._vote, self._reason)

    def vote_view(self, answer_id: str) -> discord.ui.View:
        """👍 and 👎 under an answer."""
        view = discord.ui.View(timeout=None)
        view.add_item(self._vote(answer_id=answer_id, helpful=True))
        view.add_item(self._vote(answer_id=answer_id, helpful=False))
        return view

    def reason_view(self, answer_id: str, reasons: Sequence[tuple[str, str]]) -> discord.ui.View:
        """One button per (reason, label), offered to a 👎 voter."""
        view = discord.ui.View(timeout=None)
        for reason, label in reasons:
            view.add_item(self._reason(answer_id=answer_id, reason=reason, label=label))
        return view
