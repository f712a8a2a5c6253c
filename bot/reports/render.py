"""Render a report as text (Markdown that Discord shows as is and Slack gets converted) and as a chart PNG."""

from __future__ import annotations

import io

from bot.feedback import reason_label
from bot.reports.aggregate import DownvotedAnswer, PeriodStats, UsageReport

GAP_CHARS = 140


def _delta(now: float, before: float, *, money: bool = False) -> str:
    change = now - before
    if abs(change) < 1e-9:
        return "±0"
    sign = "+" if change > 0 else "−"
    return f"{sign}{_money(abs(change)) if money else f'{abs(change):,.0f}'}"


def _money(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:,.4f}"


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "–"


def _quote(question: str) -> str:
    flat = " ".join(question.split()).replace("`", "'")
    return flat if len(flat) <= GAP_CHARS else flat[:GAP_CHARS - 1] + "…"


def _downvoted(answer: DownvotedAnswer) -> str:
    """One answer rated 👎: its question (literally, in a code span), why, the documents it cited, a link to it."""
    parts = [f"`{_quote(answer.question)}`"]
    if answer.votes > 1:
        parts.append(f"{answer.votes} votes")
    if answer.reasons:
        parts.append("why: " + ", ".join(reason_label(reason) for reason in answer.reasons))
    parts.append("documents: " + (", ".join(f"`{_quote(doc)}`" for doc in answer.documents) or "none"))
    if answer.link:  # a platform's own message link (checked when aggregated), never a user's text
        parts.append(f"[message]({answer.link})")
    return " · ".join(parts)


def render_text(report: UsageReport) -> str:
    """The report as Markdown: bold, bullet lists and code spans only, so every platform shows it well."""
    now, before = report.current, report.previous
    lines = [f"**Usage report · {now.period.label}**", report.scope, ""]

    def counted(label: str, attribute: str) -> str:
        value, previous = getattr(now, attribute), getattr(before, attribute)
        return f"{label} **{value:,}** ({_delta(value, previous)})"

    lines.append(" · ".join([counted("Questions", "questions"), counted("people", "distinct_users"),
                             counted("channels", "active_channels")]))
    lines.append(f"Answered **{now.answered:,}** · don't know **{now.unanswered:,}** "
                 f"({_share(now.unanswered, now.questions)}, before {_share(before.unanswered, before.questions)})"
                 f" · errors **{now.errors:,}**")
    feedback = (f"Feedback: helpful **{now.helpful:,}** ({_delta(now.helpful, before.helpful)}) · "
                f"not helpful **{now.not_helpful:,}** ({_delta(now.not_helpful, before.not_helpful)})")
    if now.downvote_reasons:  # the offered reasons, counted: never anyone's words
        feedback += " · why: " + ", ".join(f"{reason_label(reason)} {count:,}"
                                           for reason, count in now.downvote_reasons.items())
    lines.append(feedback)
    lines.append(f"Latency: first words p50 {_seconds(now.first_token_p50_s)} / p95 {_seconds(now.first_token_p95_s)}"
                 f" · full answer p50 {_seconds(now.total_p50_s)} / p95 {_seconds(now.total_p95_s)}"
                 f" (before: p50 {_seconds(before.total_p50_s)})")
    tokens = (f"Model tokens **{now.tokens:,}** (in {now.input_tokens:,} / out {now.output_tokens:,}; "
              f"{_delta(now.tokens, before.tokens)})")
    if report.priced and now.cost is not None:
        tokens += f" · estimated cost **{_money(now.cost)}** ({_delta(now.cost, before.cost or 0, money=True)})"
    lines.append(tokens)
    lines.append(f"Uploads: **{now.uploaded_documents:,}** documents, {now.uploaded_chunks:,} chunks, "
                 f"{now.upload_failures:,} failed")
    if now.errors_by_kind:
        lines.append("Errors by kind: " + ", ".join(f"`{kind}` {count}" for kind, count in now.errors_by_kind.items()))

    def listing(title: str, rows: list[str]) -> None:
        if rows:
            lines.extend(["", f"**{title}**", *(f"- {row}" for row in rows)])

    listing("Top channels", [f"{channel}: {count:,}" for channel, count in now.top_channels])
    listing("Most cited documents", [f"`{_quote(doc)}`: {count:,}" for doc, count in now.top_documents])
    # Users' words, shown literally: in a code span no platform turns them into links, mentions or emphasis.
    listing("Questions I could not answer (documents to add)", [f"`{_quote(q)}`" for q in now.gaps])
    listing("Answers rated not helpful", [_downvoted(answer) for answer in now.downvoted])
    listing("Documents cited in answers rated not helpful",
            [f"`{_quote(doc)}`: {count:,}" for doc, count in now.downvoted_documents])
    if now.unnamed_questions:
        # Counted above, but their readers are not this report's: numbers only, no channel, text or document.
        lines.extend(["", f"Not named here: {now.unnamed_questions:,} questions ({now.unnamed_unanswered:,} not "
                          f"answered, {now.unnamed_citations:,} citations) in {now.unnamed_channels:,} "
                          "other or private channels."])
    if now.unnamed_downvoted:  # the same: counted, never named
        lines.extend([*([] if now.unnamed_questions else [""]),
                      f"Not named here: {now.unnamed_downvoted:,} answers rated not helpful in other or private "
                      "channels."])
    if not now.questions and not now.uploaded_documents:
        lines.extend(["", "No questions or uploads in this period."])
    return "\n".join(lines)


def render_chart(stats: PeriodStats) -> bytes:
    """Questions per day (bars, the don't-know part highlighted) with the don't-know share (line), as PNG.

    Uses matplotlib's object API with the Agg canvas: no display, no pyplot
    global state, safe to call from a worker thread.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - heavy, only when drawing
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator, PercentFormatter  # noqa: PLC0415

    days = stats.per_day
    labels = [d.day.strftime("%d %b") if len(days) > 7 else d.day.strftime("%a %d") for d in days]
    answered = [d.questions - d.unanswered for d in days]
    unknown = [d.unanswered for d in days]
    share = [d.unanswered / d.questions * 100 if d.questions else float("nan") for d in days]

    figure = Figure(figsize=(8, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(days)))
    axes.bar(positions, answered, color="#4C78A8", label="answered (or failed)")
    axes.bar(positions, unknown, bottom=answered, color="#F58518", label="\"I don't know\"")
    axes.set_xticks(positions, labels, rotation=45 if len(days) > 7 else 0, ha="right" if len(days) > 7 else "center",
                    fontsize=8)
    axes.set_ylabel("questions")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(bottom=0, top=max([1, *(d.questions for d in days)]) * 1.15)
    share_axes = axes.twinx()
    share_axes.plot(positions, share, color="#E45756", marker="o", linewidth=1.5, label="don't-know share")
    share_axes.set_ylim(0, 100)
    share_axes.yaxis.set_major_formatter(PercentFormatter())
    share_axes.set_ylabel("don't know")
    handles = axes.get_legend_handles_labels()[0] + share_axes.get_legend_handles_labels()[0]
    axes.legend(handles=handles, loc="upper left", fontsize=8, frameon=False)
    axes.set_title(f"Questions per day · {stats.period.label}", fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
