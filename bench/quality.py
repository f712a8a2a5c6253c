"""Retrieval and extractive-answer quality, ours beside the naive baseline, in one run.

    python -m bench.quality --format squad --data /work/shared/eval/squad-v1.1/dev-v1.1.json \
        --exclude-ids /work/shared/eval/splits/squad-v1.1-dev.txt --limit 1000 --json

Every passage of the set is ingested (the full collection); the questions are those in `--ids`
(all if omitted) minus `--exclude-ids`, then a seeded random sample of `--limit`.

Measures, per system: recall@1, recall@5 and MRR@10 of the gold passage (for the docs set any
gold chunk link), and for sets with extractive gold answers the share of questions whose gold
answer (SQuAD normalisation: lower case, no punctuation or articles, single spaces) is a
substring of the reply shown to the user, citation marks and the fixed "no model" note removed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agent import prompts
from agent.embeddings import WordLlamaEmbedder
from bench.datasets import Dataset, Question, contains_answer, load, select
from bench.systems import Baseline, Ours

_CITATION = re.compile(r"\[\d{1,2}\]")


def clean_reply(text: str) -> str:
    for note in (prompts.NO_MODEL_NOTE, prompts.NO_MODEL_NOTE_KO):
        text = text.replace(note, "")
    return _CITATION.sub(" ", text)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _measure(system: Any, questions: list[Question], *, answers: bool, concurrency: int) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)
    ranks: list[int | None] = [None] * len(questions)
    contained: list[bool] = [False] * len(questions)
    lengths: list[int] = [0] * len(questions)
    latencies: list[float] = [0.0] * len(questions)

    async def one(i: int, question: Question) -> None:
        async with gate:
            started = time.perf_counter()
            ranked = await system.ranked(question.text, 10)
            latencies[i] = time.perf_counter() - started
            ranks[i] = next((r for r, pid in enumerate(ranked[:10], 1) if pid in question.gold), None)
            if answers:
                reply = clean_reply(await system.reply(question.text))
                contained[i] = contains_answer(reply, question.answers)
                lengths[i] = len(reply.strip())

    await asyncio.gather(*(one(i, q) for i, q in enumerate(questions)))
    n = len(questions)
    result: dict[str, Any] = {
        "questions": n,
        "recall@1": sum(1 for r in ranks if r is not None and r <= 1) / n,
        "recall@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr@10": sum(1 / r for r in ranks if r is not None) / n,
        "retrieval_ms_p50": 1000 * percentile(latencies, 0.5),
        "misses@5": [q.id for q, r in zip(questions, ranks, strict=True) if r is None or r > 5],
    }
    if answers:
        result["containment"] = sum(contained) / n
        result["reply_chars_mean"] = statistics.mean(lengths)
        result["not_contained"] = [q.id for q, c in zip(questions, contained, strict=True) if not c]
    return result


async def evaluate(dataset: Dataset, questions: list[Question], *, concurrency: int = 4,
                   systems: tuple[str, ...] = ("ours", "baseline"), retrieval_only: bool = False) -> dict[str, Any]:
    """Ingest the full passage collection into each system, then measure `questions` against it
    (with `retrieval_only`, the ranking alone: no replies, about half the time)."""
    embedder = WordLlamaEmbedder()
    answers = not retrieval_only and any(q.answers for q in questions)
    report: dict[str, Any] = {"dataset": dataset.name, "passages": len(dataset.passages), "systems": {}}
    with tempfile.TemporaryDirectory(prefix="teambot-bench-") as tmp:
        for name in systems:
            system = (Ours if name == "ours" else Baseline)(Path(tmp) / name, embedder)
            started = time.perf_counter()
            await system.ingest(dataset.passages)
            ingest_s = time.perf_counter() - started
            measured = await _measure(system, questions, answers=answers, concurrency=concurrency)
            measured.update({"chunks": system.chunks, "ingest_s": ingest_s})
            report["systems"][name] = measured
            await system.aclose()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", choices=["squad", "docs"], required=True)
    parser.add_argument("--data", type=Path, required=True, help="SQuAD-layout JSON file, or the docs folder")
    parser.add_argument("--ids", type=Path, help="file of question ids to use (one per line)")
    parser.add_argument("--exclude-ids", type=Path, help="file of question ids to leave out (e.g. the dev split)")
    parser.add_argument("--limit", type=int, help="seeded random sample of this many questions")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--systems", default="ours,baseline")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--retrieval-only", action="store_true",
                        help="measure the ranking only (recall, MRR), without replies: for tuning retrieval")
    args = parser.parse_args(argv)

    dataset = load(args.format, args.data)
    questions = select(dataset.questions, ids=args.ids, exclude_ids=args.exclude_ids, limit=args.limit,
                       seed=args.seed)
    if not questions:
        print("no questions selected", file=sys.stderr)
        return 2
    report = asyncio.run(evaluate(dataset, questions, systems=tuple(args.systems.split(",")),
                                  retrieval_only=args.retrieval_only))
    report["selection"] = {"ids": str(args.ids) if args.ids else None,
                           "exclude_ids": str(args.exclude_ids) if args.exclude_ids else None,
                           "limit": args.limit, "seed": args.seed}
    if args.json:
        if not args.show_misses:
            for measured in report["systems"].values():
                measured.pop("misses@5", None)
                measured.pop("not_contained", None)
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    print(f"{report['dataset']}: {len(questions)} questions, {report['passages']} passages")
    print(f"{'system':<10} {'R@1':>6} {'R@5':>6} {'MRR@10':>7} {'contain':>8} {'chunks':>7} {'ingest s':>9}")
    for name, m in report["systems"].items():
        contain = f"{m['containment']:.3f}" if "containment" in m else "-"
        print(f"{name:<10} {m['recall@1']:>6.3f} {m['recall@5']:>6.3f} {m['mrr@10']:>7.3f} {contain:>8}"
              f" {m['chunks']:>7} {m['ingest_s']:>9.1f}")
        if args.show_misses:
            print("  misses@5:", " ".join(m["misses@5"][:50]))
            print("  not contained:", " ".join(m.get("not_contained", [])[:50]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
