"""Does the bot answer when its documents answer, and decline when they don't? Ours beside the baseline.

    python -m bench.answerability --data /work/shared/eval/squad-v1.1/dev-v1.1.json \
        --split /work/shared/eval/splits/squad-v1.1-dev.txt --use dev --limit 200 [--seeds 1-10]

The articles of a SQuAD-layout set are divided, seeded, into two halves: one half is ingested
(every paragraph a document, one scope), the other never is. Questions are taken from the chosen
split (`--use dev` to tune, `--use holdout` to report), a seeded sample of `--limit` per half:
- *in corpus*: questions about ingested articles. Measured: the share answered (not declined),
  and the share whose reply contains a gold answer (SQuAD normalisation, as `bench.quality`).
- *out of corpus*: questions about articles that were never ingested. Every answer here is a
  false answer: the share answered is the false-answer rate.

The baseline (dense top-1, see `bench.systems.Baseline`) never declines, so its false-answer rate
is the share of questions it got any chunk for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.datasets import Dataset, Question, contains_answer, load_squad, read_ids
from bench.quality import clean_reply


@dataclass(frozen=True, slots=True)
class Halves:
    """The ingested articles' passages and the questions of each half, after the split and sample."""

    ingested: Dataset
    in_corpus: list[Question]
    out_of_corpus: list[Question]


def article_of(passage_id: str) -> str:
    """`a012p003` -> `a012` (bench.datasets names each paragraph after its article)."""
    return passage_id.split("p", 1)[0]


def divide(dataset: Dataset, *, split_ids: set[str], use: str, limit: int | None, seed: int) -> Halves:
    """Seeded halves of the articles; questions of the `use` split ("dev" or "holdout") from each half."""
    articles = sorted({article_of(p.id) for p in dataset.passages})
    ingested_articles = set(random.Random(seed).sample(articles, len(articles) // 2))

    def in_split(question: Question) -> bool:
        return (question.id in split_ids) == (use == "dev")

    def sample(questions: list[Question]) -> list[Question]:
        if limit is not None and limit < len(questions):
            questions = sorted(random.Random(seed).sample(questions, limit), key=lambda q: q.id)
        return questions

    inside, outside = [], []
    for question in dataset.questions:
        if not in_split(question):
            continue
        (inside if article_of(next(iter(question.gold))) in ingested_articles else outside).append(question)
    passages = [p for p in dataset.passages if article_of(p.id) in ingested_articles]
    return Halves(Dataset(dataset.name, passages), sample(inside), sample(outside))


async def _answers(system: Any, questions: Sequence[Question], *, concurrency: int) -> list[tuple[str, bool]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(question: Question) -> tuple[str, bool]:
        async with gate:
            return await system.answer(question.text)

    return list(await asyncio.gather(*(one(q) for q in questions)))


async def measure(halves: Halves, *, systems: Sequence[str] = ("ours", "baseline"),
                  concurrency: int = 4) -> dict[str, Any]:
    """Ingest the in-corpus half into each system, then ask both halves' questions."""
    from agent.embeddings import WordLlamaEmbedder  # noqa: PLC0415 - heavy, only when measuring
    from bench.systems import Baseline, Ours  # noqa: PLC0415

    embedder = WordLlamaEmbedder()
    report: dict[str, Any] = {"dataset": halves.ingested.name, "passages": len(halves.ingested.passages),
                              "in_corpus_questions": len(halves.in_corpus),
                              "out_of_corpus_questions": len(halves.out_of_corpus), "systems": {}}
    with tempfile.TemporaryDirectory(prefix="teambot-answerability-") as tmp:
        for name in systems:
            system = (Ours if name == "ours" else Baseline)(Path(tmp) / name, embedder)
            try:
                await system.ingest(halves.ingested.passages)
                inside = await _answers(system, halves.in_corpus, concurrency=concurrency)
                outside = await _answers(system, halves.out_of_corpus, concurrency=concurrency)
            finally:
                await system.aclose()
            report["systems"][name] = {
                "answer_rate": _share(answered for _, answered in inside),
                "containment": _share(
                    answered and contains_answer(clean_reply(text), q.answers)
                    for (text, answered), q in zip(inside, halves.in_corpus, strict=True)
                ),
                "false_answer_rate": _share(answered for _, answered in outside),
                "declined_in_corpus": [
                    q.id for (_, answered), q in zip(inside, halves.in_corpus, strict=True) if not answered
                ],
                "answered_out_of_corpus": [
                    q.id for (_, answered), q in zip(outside, halves.out_of_corpus, strict=True) if answered
                ],
            }
    return report


def _share(flags: Any) -> float:
    values = [bool(f) for f in flags]
    return sum(values) / len(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.answerability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="SQuAD-layout JSON file (SQuAD or KorQuAD)")
    parser.add_argument("--split", type=Path, required=True, help="the dev split's question ids")
    parser.add_argument("--use", choices=["dev", "holdout"], default="dev")
    parser.add_argument("--limit", type=int, default=200, help="questions per half (seeded sample)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--seeds", type=_seeds, default=None,
                        help="several divisions of the articles, e.g. 1-10 or 6,1,2: each one's figures and their"
                             " mean (the dev split is small: one division puts about 100 questions on each side)")
    parser.add_argument("--systems", default="ours,baseline")
    parser.add_argument("--show", action="store_true", help="list the wrongly declined and falsely answered ids")
    args = parser.parse_args(argv)
    dataset, split_ids = load_squad(args.data), read_ids(args.split)
    reports = []
    for seed in args.seeds or [args.seed]:
        halves = divide(dataset, split_ids=split_ids, use=args.use, limit=args.limit, seed=seed)
        if not halves.in_corpus or not halves.out_of_corpus:
            print("no questions selected", file=sys.stderr)
            return 2
        report = asyncio.run(measure(halves, systems=tuple(args.systems.split(","))))
        report["seed"] = seed
        if not args.show:
            for measured in report["systems"].values():
                measured.pop("declined_in_corpus")
                measured.pop("answered_out_of_corpus")
        reports.append(report)
    if args.seeds is None:
        print(json.dumps(reports[0], indent=2, ensure_ascii=False))
    else:
        print(json.dumps({"runs": reports, "mean": mean_rates(reports)}, indent=2, ensure_ascii=False))
    return 0


_RATES = ("answer_rate", "containment", "false_answer_rate")


def mean_rates(reports: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each system's rates averaged over the runs (each run weighs the same, whatever its size)."""
    systems = reports[0]["systems"] if reports else {}
    return {name: {rate: sum(r["systems"][name][rate] for r in reports) / len(reports) for rate in _RATES}
            for name in systems}


def _seeds(text: str) -> list[int]:
    """`1-10` or `6,1,2` -> the seeds, in that order."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        seeds += range(int(low), int(high) + 1) if high else [int(low)]
    return seeds


if __name__ == "__main__":
    raise SystemExit(main())
