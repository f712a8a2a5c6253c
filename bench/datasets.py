"""Evaluation data, read in place from the shared folder (never copied into the repository).

Two layouts:
- `squad`: SQuAD v1.1 / KorQuAD 1.0 JSON. Every paragraph is one passage (one document);
  a question's gold passage is the paragraph that holds it.
- `docs`: a folder with `anthropic_docs.json` (chunks with `chunk_link`, `chunk_heading`, `text`)
  and `docs_evaluation_dataset.json` (`id`, `question`, `correct_chunks`, `correct_answer`).
  Every `chunk_link` is one passage (one document).
"""

from __future__ import annotations

import json
import random
import re
import string
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

EVAL_ROOT = Path("/work/shared/eval")


@dataclass(frozen=True, slots=True)
class Passage:
    id: str
    text: str
    heading: str = ""


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    gold: frozenset[str]
    """Ids of the passages that answer it (any one counts)."""
    answers: tuple[str, ...] = ()
    """Extractive gold answers (SQuAD layout); empty for the docs set."""


@dataclass(slots=True)
class Dataset:
    name: str
    passages: list[Passage]
    questions: list[Question] = field(default_factory=list)


def load_squad(path: Path) -> Dataset:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    passages: list[Passage] = []
    questions: list[Question] = []
    for a_index, article in enumerate(raw["data"]):
        for p_index, paragraph in enumerate(article["paragraphs"]):
            pid = f"a{a_index:03d}p{p_index:03d}"
            passages.append(Passage(pid, paragraph["context"]))
            for qa in paragraph["qas"]:
                answers = tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                questions.append(Question(qa["id"], qa["question"], frozenset({pid}), answers))
    return Dataset(Path(path).stem, passages, questions)


def load_docs(path: Path) -> Dataset:
    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    chunks = json.loads((folder / "anthropic_docs.json").read_text(encoding="utf-8"))
    evaluation = json.loads((folder / "docs_evaluation_dataset.json").read_text(encoding="utf-8"))
    passages = [Passage(c["chunk_link"], c["text"], c.get("chunk_heading", "")) for c in chunks]
    questions = [
        Question(q["id"], q["question"], frozenset(q["correct_chunks"]), ()) for q in evaluation
    ]
    return Dataset(folder.name, passages, questions)


def load(format: str, path: Path) -> Dataset:
    if format == "squad":
        return load_squad(path)
    if format == "docs":
        return load_docs(path)
    raise ValueError(f"unknown format {format!r}")


def read_ids(path: Path | None) -> set[str]:
    if path is None:
        return set()
    return {line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()}


def select(questions: list[Question], *, ids: Path | None = None, exclude_ids: Path | None = None,
           limit: int | None = None, seed: int = 6) -> list[Question]:
    """Questions in `ids` (all if none), minus `exclude_ids`, then a seeded random sample of `limit`."""
    wanted = read_ids(ids)
    excluded = read_ids(exclude_ids)
    chosen = [q for q in questions if (not wanted or q.id in wanted) and q.id not in excluded]
    if limit is not None and limit < len(chosen):
        chosen = random.Random(seed).sample(chosen, limit)
        chosen.sort(key=lambda q: q.id)
    return chosen


# --- SQuAD v1.1's official answer normalisation --------------------------------------------
def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation and English articles, collapse white space (SQuAD's evaluate-v1.1)."""

    def remove_articles(s: str) -> str:
        return re.sub(r"\b(a|an|the)\b", " ", s)

    def remove_punc(s: str) -> str:
        exclude = set(string.punctuation)
        return "".join(ch for ch in s if ch not in exclude)

    return " ".join(remove_articles(remove_punc(text.lower())).split())


def contains_answer(reply: str, answers: tuple[str, ...]) -> bool:
    """Some gold answer, normalised, is a substring of the normalised reply (particles may follow in Korean)."""
    normalized = normalize_answer(reply)
    return any(normalize_answer(a) in normalized for a in answers if normalize_answer(a))


def f1_tokens(prediction: str, truth: str) -> float:
    p, t = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = Counter(p) & Counter(t)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(t)
    return 2 * precision * recall / (precision + recall)
