"""Feedback buttons under Discord answers, through the real discord.py client: 👍/👎 as persistent buttons
whose custom ids name the answer, the "what was wrong" choice after a 👎, the vote stored with the answer
and reaching `/stats`, and buttons sent before a restart still working after it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from adapters.discord import create_adapter
from tests.support.discord_bot import MENTION, DiscordHarness, upload_in_channel
from tests.support.fake_discord import CHANNEL_ID, GUILD_ID, FakeDiscord

QUESTION = "What is the default port of the web console?"


async def answered(env: DiscordHarness) -> dict[str, Any]:
    """A question answered from the guide in a thread: the answer's message, as Discord holds it."""
    discord = env.discord
    await upload_in_channel(env)
    await discord.message(f"{MENTION} {QUESTION}", mention_bot=True)

    def answer() -> dict[str, Any] | None:
        return next((m for m in discord.messages.values() if "Sources" in m["content"] and m["components"]), None)

    message: dict[str, Any] = await discord.wait_for(answer)
    return message


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [button for row in message["components"] for button in row["components"]]


async def click(discord: FakeDiscord, custom_id: str, message: dict[str, Any], *, user_id: int | None = None
                ) -> dict[str, Any]:
    """Click a button; the bot's response to the click (a callback)."""
    options = {"user_id": user_id} if user_id is not None else {}
    interaction = await discord.click(custom_id, message_id=message["id"], **options)
    [response] = await discord.wait_for(lambda: discord.responses_to(interaction))
    answer: dict[str, Any] = response.json
    return answer


async def test_a_not_helpful_vote_with_a_reason_reaches_stats(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    message = await answered(discord_bot)
    up, down = buttons(message)
    assert (up["emoji"]["name"], down["emoji"]["name"]) == ("👍", "👎")
    assert down["custom_id"].startswith("teambot:vote:down:") and up["custom_id"].startswith("teambot:vote:up:")

    offer = await click(discord, down["custom_id"], message)
    assert offer["type"] == 4 and offer["data"]["flags"] & 64, "only the voter sees the question"
    reasons = [b["custom_id"].split(":")[2] for row in offer["data"]["components"] for b in row["components"]]
    assert reasons == ["outdated", "wrong_document", "missing", "other"]

    asked = discord.messages[next(m for m in discord.messages if discord.messages[m]["flags"] & 64)]
    reason_button = next(b for b in buttons(asked) if ":outdated:" in b["custom_id"])
    thanks = await click(discord, reason_button["custom_id"], asked)
    assert thanks["type"] == 7 and thanks["data"]["content"] == "Noted: outdated. Thanks!"
    assert thanks["data"]["components"] == [], "the choice is replaced by the thanks"

    [vote] = await discord_bot.teambot.commands.feedback_votes(days=1)
    assert (vote.helpful, vote.reason, vote.answer.question) == (False, "outdated", QUESTION)
    assert vote.answer.documents == ["guide.md"]
    assert vote.link == f"https://discord.com/channels/{GUILD_ID}/{message['channel_id']}/{message['id']}"

    again = await click(discord, down["custom_id"], message)
    assert again["data"]["content"] == "You already rated this answer."

    stats = await discord.slash("stats", [{"name": "period", "type": 3, "value": "week"}], channel_id=CHANNEL_ID)
    shown = "\n".join(await discord.wait_for(lambda: [c for c in discord.interaction_contents(stats["token"]) if c]))
    assert "**Answers rated not helpful**" in shown and QUESTION in shown and "why: outdated" in shown
    assert "`guide.md`" in shown


async def test_feedback_buttons_keep_working_after_a_restart(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    message = await answered(discord_bot)
    _, down = buttons(message)

    # The bot restarts: a new client, which never sent that message, connects.
    await discord_bot.adapter.stop()
    discord.expect_reconnect()
    restarted = create_adapter(discord_bot.teambot, web_app=None)
    async with restarted:
        running = asyncio.create_task(restarted.run())
        try:
            await discord.connected()
            offer = await click(discord, down["custom_id"], message, user_id=120000000000000002)
            assert offer["data"]["content"].startswith("Thanks for the feedback! What was wrong?")
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    [vote] = await discord_bot.teambot.commands.feedback_votes(days=1)
    assert vote.answer.question == QUESTION and not vote.helpful


async def test_an_ask_command_answer_has_the_buttons_too(discord_bot: DiscordHarness) -> None:
    discord = discord_bot.discord
    await upload_in_channel(discord_bot)
    ask = await discord.slash("ask", [{"name": "question", "type": 3, "value": QUESTION}])
    await discord.wait_for(lambda: [c for c in discord.interaction_contents(ask["token"]) if "Sources" in c])
    # The last edit of the answer's only message: the 👍/👎 replace the Stop button it had while written.
    edit = [c for c in discord.calls if c.method == "PATCH" and f"/{ask['token']}/messages/@original" in c.path
            and c.json.get("components")][-1]
    [[up, down]] = [row["components"] for row in edit.json["components"]]
    assert up["custom_id"].startswith("teambot:vote:up:") and down["custom_id"].startswith("teambot:vote:down:")
