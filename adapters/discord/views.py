"""The buttons under an answer, as one persistent view: clicks are handled even after a restart.

Discord keeps a message's buttons; a click sends an interaction with the button's `custom_id`.
The adapter registers one `AnswerControls` with `client.add_view` at setup (no message id,
no timeout), so any message carrying these custom ids reaches it, whether it was posted by
this process or by one that has since restarted. Messages are sent with `stop_button()`, a
finished copy of the same components: discord.py then sends the buttons without keeping a
per-message copy of the view (which would grow with every answer).

The Stop button stops the answer being written in that message; only its asker may press it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord

log = logging.getLogger(__name__)

STOP_ID = "teambot:stop"
"""The Stop button's custom id: stable across releases, or old messages' buttons stop working."""

NO_LONGER_RUNNING = "This answer is no longer running."


class Stopper:
    """One answer that can be stopped: who asked, and the event the stream waits on."""

    def __init__(self, *, asker: str) -> None:
        self.asker = asker
        """The user id of who asked: the only one who may stop the answer."""
        self._stop = asyncio.Event()

    async def stop_requested(self) -> None:
        """Return once the asker pressed Stop."""
        await self._stop.wait()

    def request_stop(self) -> None:
        self._stop.set()


class RunningAnswers:
    """The answers being written now, by the id of the message that carries their Stop button."""

    def __init__(self) -> None:
        self._by_message: dict[int, Stopper] = {}

    def add(self, message_id: int, stopper: Stopper) -> None:
        self._by_message[message_id] = stopper

    def discard(self, message_id: int) -> None:
        self._by_message.pop(message_id, None)

    def get(self, message_id: int) -> Stopper | None:
        return self._by_message.get(message_id)

    def __len__(self) -> int:
        return len(self._by_message)


def _stop_item() -> discord.ui.Button[Any]:
    return discord.ui.Button(label="Stop", emoji="⏹", style=discord.ButtonStyle.secondary, custom_id=STOP_ID)


def stop_button() -> discord.ui.View:
    """The Stop button to send with a message (handled by the registered `AnswerControls`)."""
    view = discord.ui.View(timeout=None)
    view.add_item(_stop_item())
    view.stop()  # finished: discord.py sends it but dispatches clicks to the persistent view only
    return view


def no_buttons() -> discord.ui.View:
    """No components: an edit with it takes a message's buttons away."""
    return discord.ui.View(timeout=None)


class AnswerControls(discord.ui.View):
    """The persistent handler of the answer buttons (register once with `client.add_view`)."""

    def __init__(self, running: RunningAnswers) -> None:
        super().__init__(timeout=None)
        self.running = running
        stop = _stop_item()
        stop.callback = self.on_stop  # type: ignore[method-assign]  # discord.py's documented way to bind a callback
        self.add_item(stop)

    async def on_stop(self, interaction: discord.Interaction[Any]) -> None:
        """Stop the answer in the clicked message, if it is still written and the clicker asked it."""
        message_id = interaction.message.id if interaction.message is not None else 0
        stopper = self.running.get(message_id)
        if stopper is None:
            await interaction.response.send_message(NO_LONGER_RUNNING, ephemeral=True)
            return
        if stopper.asker != str(interaction.user.id):
            await interaction.response.send_message(f"Only <@{stopper.asker}> can stop this answer.",
                                                    ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
            return
        # Acknowledge without a message: the answer's own last edit shows that it stopped.
        await interaction.response.defer()
        stopper.request_stop()

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception,
                       item: discord.ui.Item[Any]) -> None:
        log.warning("answer button failed: %s", error, exc_info=error)
