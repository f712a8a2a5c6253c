"""Feedback that counts: each 👍/👎 kept with the answer it rates.

The dispatcher keeps every answer it gives (`record_answer`) for `RATING_WINDOW_DAYS`: the question,
the answer, the documents and passages it cites, where it was asked and who can read there, the asker
as a pseudonym. A vote on it (`record_vote`) stores the voter's pseudonym, 👍 or 👎, a link to the
message and, after a 👎, an optional reason (`set_reason`); the answer is then kept as long as the
vote, for `TEAMBOT_USAGE_RETENTION_DAYS`, like all usage data. Votes are listed in the day buckets of
the usage data (`teambot:usage:<day>:voted`, and per workspace), in the report time zone, so a report
or a listing reads whole days of one workspace only.

    feedback = RedisFeedback.from_settings(redis, settings)
    await feedback.record_answer(message, reply)                 # the dispatcher, before showing it
    vote = await feedback.record_vote(platform=..., workspace=..., user=..., answer_id=..., helpful=False)
    await feedback.set_reason(platform=..., workspace=..., user=..., answer_id=..., reason="outdated")
    answer = await feedback.answer_in(scope, answer_id)          # the HTTP API: one vote per person, with its reason
    vote = await feedback.first_vote(answer, user=..., helpful=False, reason="outdated")
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Literal, TypeGuard, get_args
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from bot.core.values import IncomingMessage, Reply, Scope, Visibility
from bot.usage import UsageScope, pseudonym, workspace_digest

if TYPE_CHECKING:
    from redis.asyncio.client import Pipeline

    from bot.settings import Settings

Reason = Literal["outdated", "wrong_document", "missing", "other"]
"""What was wrong with an answer rated 👎, as the voter picked it (never their own words)."""
REASONS: dict[Reason, str] = {"outdated": "Outdated", "wrong_document": "Wrong document",
                              "missing": "Missing information", "other": "Other"}
"""Each reason with its label on the buttons, in the order they are offered."""
THANKS = "Thanks for the feedback!"
REASON_PROMPT = "Thanks for the feedback! What was wrong? (optional)"
ALREADY_RATED = "You already rated this answer."

RATING_WINDOW_DAYS = 30
"""How long an answer nobody rated is kept to be rated (its vote then keeps it as long as usage data)."""
MAX_QUESTION_CHARS = 1000
MAX_ANSWER_CHARS = 4000
"""Kept of a question and an answer: enough to judge them, bounded whatever the model wrote."""
_VISIBILITIES = frozenset(get_args(Visibility))


def _utc_now() -> datetime:
    return datetime.now(UTC)


REASON_CHOICES: tuple[tuple[str, str], ...] = tuple(REASONS.items())
"""(reason, label) of each reason, in the order they are offered: what the platforms' buttons show."""
_LABELS: dict[str, str] = dict(REASON_CHOICES)


def is_reason(value: str) -> TypeGuard[Reason]:
    """True for one of the reasons offered after a 👎."""
    return value in _LABELS


def reason_label(reason: str) -> str:
    """How a reason reads in a report or a listing ("outdated", "wrong document", ...)."""
    return _LABELS.get(reason, reason).lower()


def reason_thanks(reason: str, *, stored: bool) -> str:
    """What the voter is told once they picked `reason` (`stored`: it was kept with their vote)."""
    return f"Noted: {reason_label(reason)}. Thanks!" if stored else THANKS


@dataclass(frozen=True, slots=True)
class CitedPassage:
    """One source an answer cites: the document and the passage (chunk) of it."""

    number: int
    source: str
    location: str
    document_id: str
    chunk_id: str


@dataclass(frozen=True, slots=True)
class RatedAnswer:
    """An answer as kept for feedback: what was asked and answered, from which passages, where and by whom."""

    answer_id: str
    platform: str
    workspace: str
    channel: str
    thread: str
    visibility: Visibility
    """Who can read where it was asked (a DM is private): reports name it only to them."""
    asker: str
    """The asker as a pseudonym (`bot.usage.pseudonym`), like all usage data."""
    question: str
    answer: str
    mode: str
    answered: bool
    citations: tuple[CitedPassage, ...]
    at: datetime

    @property
    def scope(self) -> UsageScope:
        """Where it was asked, as the usage reports' visibility rules take it."""
        return UsageScope(self.platform, self.workspace, self.channel, self.visibility)

    @property
    def documents(self) -> list[str]:
        """The cited documents' names, each once, in citation order."""
        return list(dict.fromkeys(c.source for c in self.citations))

    @classmethod
    def of(cls, message: IncomingMessage, reply: Reply, *, at: datetime) -> RatedAnswer:
        assert reply.answer_id is not None
        return cls(
            answer_id=reply.answer_id, platform=message.platform, workspace=message.workspace,
            channel=message.channel, thread=message.thread,
            visibility="private" if message.is_dm else message.visibility,
            asker=pseudonym(message.platform, message.user), question=message.text[:MAX_QUESTION_CHARS],
            answer=reply.text[:MAX_ANSWER_CHARS], mode=reply.mode, answered=reply.answered,
            citations=tuple(CitedPassage(c.number, c.source, c.location, c.document_id, c.chunk_id)
                            for c in reply.citations),
            at=at,
        )

    def to_json(self) -> str:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["citations"] = [[c.number, c.source, c.location, c.document_id, c.chunk_id] for c in self.citations]
        data["at"] = self.at.isoformat()
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: bytes | str) -> RatedAnswer | None:
        """The answer stored as `raw`; None for anything malformed (never crash a report)."""
        try:
            data = json.loads(raw)
            citations = tuple(CitedPassage(int(n), str(s), str(loc), str(d), str(c))
                              for n, s, loc, d, c in data.pop("citations"))
            visibility = data["visibility"] if data.get("visibility") in _VISIBILITIES else "unknown"
            return cls(**{**data, "visibility": visibility, "citations": citations,
                          "at": datetime.fromisoformat(data["at"])})
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


@dataclass(frozen=True, slots=True)
class Vote:
    """One person's 👍 or 👎 on one answer, with the answer it rates."""

    answer: RatedAnswer
    voter: str
    """The voter as a pseudonym."""
    helpful: bool
    at: datetime
    reason: Reason | None = None
    link: str | None = None
    """The rated message on its platform (a Slack permalink, a Discord jump URL), when known."""

    def to_json(self) -> str:
        return json.dumps({"helpful": self.helpful, "at": self.at.isoformat(), "reason": self.reason,
                           "link": self.link})

    @classmethod
    def from_json(cls, raw: bytes | str, *, answer: RatedAnswer, voter: str) -> Vote | None:
        try:
            data = json.loads(raw)
            reason = data.get("reason")
            return cls(answer=answer, voter=voter, helpful=bool(data["helpful"]),
                       at=datetime.fromisoformat(data["at"]), reason=reason if reason in REASONS else None,
                       link=data.get("link") if isinstance(data.get("link"), str) else None)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


class RedisFeedback:
    """Answers kept to be rated and the votes on them, in Redis (see the module's docstring)."""

    def __init__(self, client: aioredis.Redis, *, retention_days: int = 400, tz: tzinfo = UTC,
                 window_days: int = RATING_WINDOW_DAYS, clock: Callable[[], datetime] = _utc_now) -> None:
        self._client = client
        self._retention_s = retention_days * 86400
        self._window_s = min(window_days, retention_days) * 86400
        self.tz = tz
        self._clock = clock

    @classmethod
    def from_settings(cls, client: aioredis.Redis, settings: Settings, *,
                      clock: Callable[[], datetime] = _utc_now) -> RedisFeedback:
        """Kept as long as the usage data, its days in the report time zone."""
        return cls(client, retention_days=settings.usage_retention_days, tz=ZoneInfo(settings.report_timezone),
                   clock=clock)

    @staticmethod
    def _answer_key(answer_id: str) -> str:
        return f"teambot:feedback:answer:{answer_id}"

    @staticmethod
    def _votes_key(answer_id: str) -> str:
        return f"teambot:feedback:votes:{answer_id}"

    def _index_keys(self, day: date, platform: str, workspace: str) -> tuple[str, str]:
        """The day's list of rated answers: all of them, and the workspace's own."""
        prefix = f"teambot:usage:{day.isoformat()}"
        return f"{prefix}:voted", f"{prefix}:workspace:{workspace_digest(platform, workspace)}:voted"

    # --- writing ---

    async def record_answer(self, message: IncomingMessage, reply: Reply) -> None:
        """Keep `reply` (with its `answer_id`) to `message` for the rating window."""
        answer = RatedAnswer.of(message, reply, at=self._clock())
        await self._client.set(self._answer_key(answer.answer_id), answer.to_json(), ex=self._window_s)

    async def answer(self, answer_id: str) -> RatedAnswer | None:
        """The answer kept under `answer_id`, or None (never kept, or expired)."""
        raw = await self._client.get(self._answer_key(answer_id))
        return RatedAnswer.from_json(raw) if raw is not None else None

    async def _answer_of(self, *, platform: str, workspace: str, answer_id: str) -> RatedAnswer | None:
        """The answer, if it was given on `platform` in `workspace`: a vote never reaches another's answer."""
        answer = await self.answer(answer_id)
        if answer is None or (answer.platform, answer.workspace) != (platform, workspace):
            return None
        return answer

    async def answer_in(self, scope: Scope, answer_id: str) -> RatedAnswer | None:
        """The answer kept under `answer_id` if it was given in `scope` (platform, workspace and channel), else
        None: one asked elsewhere reads exactly like one never kept."""
        answer = await self.answer(answer_id)
        if answer is None or (answer.platform, answer.workspace, answer.channel) != (
                scope.platform, scope.workspace, scope.channel):
            return None
        return answer

    async def first_vote(self, answer: RatedAnswer, *, user: str, helpful: bool,
                         reason: Reason | None = None) -> Vote | None:
        """Store `user`'s vote (and its reason) on `answer`, a user of its platform, unless they already voted on
        it: None then, and their earlier vote stays as it was."""
        vote = Vote(answer=answer, voter=pseudonym(answer.platform, user), helpful=helpful, at=self._clock(),
                    reason=reason)
        # One transaction: HSETNX stores exactly one of two votes of one person at once, and the vote never
        # stays without its expiry and index (a connection lost halfway stores none of it). When the person
        # voted already, the rest changes nothing: their vote keeps the answer as long, and is listed anyway.
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hsetnx(self._votes_key(answer.answer_id), vote.voter, vote.to_json())
            self._keep(pipe, vote, index=True)
            stored, *_ = await pipe.execute()
        return vote if stored else None

    async def record_vote(self, *, platform: str, workspace: str, user: str, answer_id: str, helpful: bool,
                          link: str | None = None) -> Vote | None:
        """Store `user`'s vote on the answer (their later vote replaces it); None when the answer is unknown here."""
        answer = await self._answer_of(platform=platform, workspace=workspace, answer_id=answer_id)
        if answer is None:
            return None
        vote = Vote(answer=answer, voter=pseudonym(platform, user), helpful=helpful, at=self._clock(), link=link)
        await self._store(vote, index=True)
        return vote

    async def set_reason(self, *, platform: str, workspace: str, user: str, answer_id: str,
                         reason: Reason) -> Vote | None:
        """Say what was wrong with the answer `user` rated; None when they did not rate it (or it is gone)."""
        answer = await self._answer_of(platform=platform, workspace=workspace, answer_id=answer_id)
        if answer is None:
            return None
        voter = pseudonym(platform, user)
        raw = await self._client.hget(self._votes_key(answer_id), voter)
        vote = Vote.from_json(raw, answer=answer, voter=voter) if raw is not None else None
        if vote is None:
            return None
        vote = replace(vote, reason=reason)
        await self._store(vote, index=False)
        return vote

    async def _store(self, vote: Vote, *, index: bool) -> None:
        async with self._client.pipeline(transaction=True) as pipe:  # never a vote without its expiry
            pipe.hset(self._votes_key(vote.answer.answer_id), vote.voter, vote.to_json())
            self._keep(pipe, vote, index=index)
            await pipe.execute()

    def _keep(self, pipe: Pipeline, vote: Vote, *, index: bool) -> None:
        """Queue on `pipe` what keeps a stored vote: its answer's expiry and, with `index`, the day's lists."""
        answer = vote.answer
        pipe.expire(self._votes_key(answer.answer_id), self._retention_s)
        # Rated: the answer is now kept as long as the vote on it.
        pipe.expire(self._answer_key(answer.answer_id), self._retention_s)
        if index:
            for key in self._index_keys(vote.at.astimezone(self.tz).date(), answer.platform, answer.workspace):
                pipe.sadd(key, answer.answer_id)
                pipe.expire(key, self._retention_s)

    # --- reading ---

    def recent_days(self, days: int) -> list[date]:
        """The last `days` days in the report time zone, today included."""
        today = self._clock().astimezone(self.tz).date()
        return [today - timedelta(days=back) for back in range(days)]

    async def votes_on(self, days: Iterable[date], *, platform: str | None = None,
                       workspace: str | None = None) -> list[Vote]:
        """The votes cast on `days` (in the report time zone), newest first: of one workspace when it is
        given (with its `platform`; nothing of another is read), else of all."""
        wanted = sorted(set(days))
        async with self._client.pipeline(transaction=False) as pipe:
            for day in wanted:
                everywhere, own = self._index_keys(day, platform or "", workspace or "")
                pipe.smembers(own if workspace is not None else everywhere)
            listed = await pipe.execute() if wanted else []
        ids = sorted({_text(member) for members in listed for member in members})
        async with self._client.pipeline(transaction=False) as pipe:
            for answer_id in ids:
                pipe.get(self._answer_key(answer_id))
                pipe.hgetall(self._votes_key(answer_id))
            stored = await pipe.execute() if ids else []
        chosen = set(wanted)
        votes: list[Vote] = []
        for position in range(len(ids)):
            raw_answer, raw_votes = stored[position * 2], stored[position * 2 + 1]
            answer = RatedAnswer.from_json(raw_answer) if raw_answer is not None else None
            if answer is None or (workspace is not None and (answer.platform, answer.workspace)
                                  != (platform, workspace)):
                continue
            for voter, raw in raw_votes.items():
                vote = Vote.from_json(raw, answer=answer, voter=_text(voter))
                if vote is not None and vote.at.astimezone(self.tz).date() in chosen:
                    votes.append(vote)
        votes.sort(key=lambda v: v.at, reverse=True)
        return votes

    async def recent_votes(self, *, days: int, platform: str | None = None, workspace: str | None = None,
                           helpful: bool | None = None) -> list[Vote]:
        """The votes of the last `days` days, newest first; only 👍 or 👎 ones with `helpful`."""
        votes = await self.votes_on(self.recent_days(days), platform=platform, workspace=workspace)
        return [vote for vote in votes if helpful is None or vote.helpful is helpful]


def vote_summary(vote: Vote) -> dict[str, Any]:
    """A vote as JSON (`teambot feedback list --json`): no user id, only pseudonyms."""
    answer = vote.answer
    return {
        "answer_id": answer.answer_id, "rating": "helpful" if vote.helpful else "not_helpful",
        "reason": vote.reason, "voted_at": vote.at.isoformat(), "voter": vote.voter, "link": vote.link,
        "platform": answer.platform, "workspace": answer.workspace, "channel": answer.channel,
        "thread": answer.thread, "visibility": answer.visibility, "asker": answer.asker,
        "question": answer.question, "answer": answer.answer, "mode": answer.mode, "answered": answer.answered,
        "answered_at": answer.at.isoformat(),
        "citations": [{"number": c.number, "source": c.source, "location": c.location,
                       "document_id": c.document_id, "chunk_id": c.chunk_id} for c in answer.citations],
    }


def vote_line(vote: Vote) -> str:
    """One line per vote for a terminal: when, 👍/👎 and why, where, the question and its documents."""
    answer = vote.answer
    rating = "👍" if vote.helpful else "👎" + (f" ({reason_label(vote.reason)})" if vote.reason else "")
    documents = ", ".join(answer.documents) or "no documents"
    question = " ".join(answer.question.split())
    where = f"{answer.platform}:{answer.workspace}:{answer.channel}"
    link = f" {vote.link}" if vote.link else ""
    return f"{vote.at:%Y-%m-%d %H:%M} {rating} {where} {question!r} → {documents}{link}"
