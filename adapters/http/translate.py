"""Validated requests in, kernel values out; results of the core in, response models out.

Pure: no I/O. `app.py` reads and validates the request, calls the core with what comes out of
here, and sends what comes back through here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from adapters.http import models
from bot.commands import FileOutcome
from bot.core.links import safe_url
from bot.core.values import WORKSPACE_WIDE, DocumentInfo, IncomingMessage, Reply, Scope, Turn
from bot.core.values import Citation as CoreCitation  # `models.Citation` is its JSON shape
from bot.feedback import Vote

PLATFORM = models.DEFAULT_PLATFORM


def new_thread() -> str:
    """The id of a new conversation; the client sends it back to follow up."""
    return uuid.uuid4().hex


def ask_message(ask: models.AskRequest, *, thread: str) -> IncomingMessage:
    """The question as the dispatcher takes it: addressed to the bot, in `thread` of the named channel."""
    return IncomingMessage(
        platform=ask.platform, workspace=ask.workspace, channel=ask.channel, thread=thread, user=ask.user,
        text=ask.question, mentions_bot=True, event_id=f"api-{uuid.uuid4().hex}",
    )


def scope_of(place: models.ScopeQuery | models.UploadForm) -> Scope:
    return Scope(platform=place.platform, workspace=place.workspace, channel=place.channel)


def place_message(place: models.ScopeQuery) -> IncomingMessage:
    """A message standing for "the integration, in this channel", for the commands that act where
    a message was sent (list what it sees, delete what it manages)."""
    return IncomingMessage(platform=place.platform, workspace=place.workspace, channel=place.channel,
                           thread="", user=models.DEFAULT_USER, text="")


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def document(info: DocumentInfo) -> models.Document:
    return models.Document(
        id=info.id, source=info.source, title=info.title,
        scope=models.Scope(platform=info.scope.platform, workspace=info.scope.workspace, channel=info.scope.channel),
        workspace_wide=info.scope.channel == WORKSPACE_WIDE, uploader=info.uploader, chunk_count=info.chunk_count,
        size_bytes=info.size_bytes, ingested_at=_utc(info.ingested_at), note=info.note, url=safe_url(info.url),
    )


def _citation(citation: CoreCitation) -> models.Citation:
    return models.Citation(number=citation.number, source=citation.source, location=citation.location,
                           snippet=citation.snippet, document_id=citation.document_id, url=citation.link,
                           updated_at=_utc(citation.updated_at) if citation.updated_at is not None else None)


def answer(reply: Reply, *, thread: str) -> models.AskResponse:
    """A finished answer (a failed one is an error response instead: `ThreadError`)."""
    mode = reply.mode
    if mode == "error":
        raise ValueError("a failed answer has no AskResponse")
    return models.AskResponse(
        answer=reply.text,
        citations=[_citation(citation) for citation in reply.citations],
        consulted=[_citation(citation) for citation in reply.consulted_only],
        thread=thread, answered=reply.answered, mode=mode, history_available=reply.history_available,
        answer_id=reply.answer_id,
    )


def reply_json(reply: Reply, *, thread: str) -> dict[str, object]:
    """The JSON of an answer, as `POST /api/v1/ask` returns it (and the final SSE `reply` event carries it)."""
    return answer(reply, thread=thread).model_dump(mode="json")


def file_result(outcome: FileOutcome) -> models.FileResult:
    if outcome.result is None:
        return models.FileResult(file=outcome.name, status="rejected", error=outcome.error)
    return models.FileResult(file=outcome.name, status=outcome.result.status,
                             document=document(outcome.result.document))


def file_results(outcomes: Sequence[FileOutcome]) -> list[models.FileResult]:
    return [file_result(outcome) for outcome in outcomes]


def feedback_vote(vote: Vote) -> models.FeedbackVote:
    answer = vote.answer
    return models.FeedbackVote(
        rating="helpful" if vote.helpful else "not_helpful", reason=vote.reason, voter=vote.voter, voted_at=vote.at,
        link=vote.link,
        answer=models.RatedAnswer(
            id=answer.answer_id,
            scope=models.Scope(platform=answer.platform, workspace=answer.workspace, channel=answer.channel),
            thread=answer.thread, visibility=answer.visibility, asker=answer.asker, question=answer.question,
            answer=answer.answer, mode=answer.mode, answered=answer.answered, answered_at=answer.at,
            citations=[models.CitedPassage(number=c.number, source=c.source, location=c.location,
                                           document_id=c.document_id, chunk_id=c.chunk_id)
                       for c in answer.citations],
        ),
    )


def history(thread: str, turns: Sequence[Turn]) -> models.History:
    return models.History(thread=thread, turns=[
        models.Turn(question=turn.question, answer=turn.answer, at=_utc(turn.at)) for turn in turns
    ])
