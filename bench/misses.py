"""Why retrieval misses: for each question whose gold passage is not in our top 5, where it ranks
and how much of the question it holds.

    python -m bench.misses --format squad --data /work/shared/eval/squad-v1.1/dev-v1.1.json \\
        --ids /work/shared/eval/splits/squad-v1.1-dev.txt

Run it on the dev split only (tuning material). Every passage of the set is ingested into our
pipeline, as `bench.quality` does. Each miss is put in one class, from the gold passage's terms:

- `no-term`: the gold passage holds none of the question's index terms: only a reading of the
  question (a paraphrase, a name the passage never uses) can find it;
- `absent`: it holds some, but is not among the `--depth` best passages;
- `less`: it holds a smaller share of the question's IDF weight than the passage ranked first;
- `as-much`: it holds as much or more, and the order among passages equally matched was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from agent.embeddings import WordLlamaEmbedder
from agent.records import Passage
from agent.retrieval import coverage
from agent.text import lexical_tokens
from bench.datasets import Passage as GoldPassage
from bench.datasets import Question, load, select
from bench.systems import SCOPE, Ours


@dataclass(frozen=True, slots=True)
class Miss:
    id: str
    question: str
    gold_rank: int | None
    """1-based rank of the gold passage's best chunk among the `depth` best, None beyond."""
    kind: str
    gold_coverage: float
    """Share of the question's IDF weight in the gold passage (its best chunk)."""
    top_coverage: float
    """The same for the passage ranked first."""
    missing_terms: list[str]
    """The question's index terms that no chunk of the gold passage holds."""


def _gold_rank(system: Ours, question: Question, passages: list[Passage]) -> int | None:
    owners = [system.passage_of_document[p.chunk.document_id] for p in passages]
    return next((r for r, owner in enumerate(owners, 1) if owner in question.gold), None)


async def _explain(system: Ours, question: Question, depth: int) -> Miss | None:
    # The top 5 as `bench.quality` ranks them (k=10): a deeper search reranks a larger candidate pool.
    rank = _gold_rank(system, question, await system.retriever.retrieve(question.text, [SCOPE], k=10))
    if rank is not None and rank <= 5:
        return None
    passages = await system.retriever.retrieve(question.text, [SCOPE], k=depth)
    rank = _gold_rank(system, question, passages)
    terms = lexical_tokens(question.text)
    idf = await system.retriever.index.idf(terms, [SCOPE])
    gold_documents = [d for d, owner in system.passage_of_document.items() if owner in question.gold]
    gold_terms: list[list[str]] = []
    for document in gold_documents:
        chunks = await system.catalog.get_chunks(await system.catalog.chunk_ids(document))
        gold_terms += [chunk.index_terms() for chunk in chunks.values()]
    gold_coverage = max((coverage(terms, t, idf) for t in gold_terms), default=0.0)
    top_coverage = coverage(terms, passages[0].chunk.index_terms(), idf) if passages else 0.0
    held = {t for chunk_terms in gold_terms for t in chunk_terms}
    missing = [t for t in dict.fromkeys(terms) if t not in held]
    if gold_coverage == 0:
        kind = "no-term"
    elif rank is None:
        kind = "absent"
    elif gold_coverage < top_coverage - 1e-9:
        kind = "less"
    else:
        kind = "as-much"
    return Miss(id=question.id, question=question.text, gold_rank=rank, kind=kind,
                gold_coverage=round(gold_coverage, 3), top_coverage=round(top_coverage, 3), missing_terms=missing)


async def explain_misses(questions: list[Question], passages: list[GoldPassage], *, depth: int) -> list[Miss]:
    """Ingest `passages` into our pipeline and explain each of `questions` whose gold is not in the top 5."""
    with tempfile.TemporaryDirectory(prefix="teambot-misses-") as tmp:
        system = Ours(Path(tmp) / "ours", WordLlamaEmbedder())
        try:
            await system.ingest(passages)
            found = [await _explain(system, q, depth) for q in questions]
        finally:
            await system.aclose()
    return [m for m in found if m is not None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.misses", description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", choices=["squad", "docs"], required=True)
    parser.add_argument("--data", type=Path, required=True, help="SQuAD-layout JSON file, or the docs folder")
    parser.add_argument("--ids", type=Path, required=True, help="file of question ids (the dev split)")
    parser.add_argument("--depth", type=int, default=100, help="how far down the ranking to look for the gold")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    dataset = load(args.format, args.data)
    questions = select(dataset.questions, ids=args.ids)
    if not questions:
        print("no questions selected", file=sys.stderr)
        return 2
    misses = asyncio.run(explain_misses(questions, dataset.passages, depth=args.depth))
    if args.json:
        print(json.dumps([asdict(m) for m in misses], indent=1, ensure_ascii=False))
        return 0
    print(f"{dataset.name}: {len(questions)} questions, {len(misses)} with the gold passage below rank 5")
    for miss in misses:
        rank = miss.gold_rank if miss.gold_rank is not None else f">{args.depth}"
        print(f"- [{miss.kind}] rank {rank}, gold holds {miss.gold_coverage:.2f} of the question, the first"
              f" {miss.top_coverage:.2f}; gold lacks {' '.join(miss.missing_terms) or '-'}: {miss.question}")
    print("by class:", dict(Counter(m.kind for m in misses)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
