"""Run every benchmark and write docs/benchmarks.md.

    python -m bench.run [--limit 1000] [--chunks 10000,100000] [--questions 200] [--answerability-limit 200]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from bench import answerability, speed
from bench.datasets import EVAL_ROOT, load, load_squad, read_ids, select
from bench.quality import evaluate

ROOT = Path(__file__).resolve().parent.parent
SETS = [
    ("SQuAD v1.1 dev", "squad", EVAL_ROOT / "squad-v1.1" / "dev-v1.1.json",
     EVAL_ROOT / "splits" / "squad-v1.1-dev.txt"),
    ("KorQuAD 1.0 dev", "squad", EVAL_ROOT / "korquad-v1.0" / "KorQuAD_v1.0_dev.json",
     EVAL_ROOT / "splits" / "korquad-v1.0-dev.txt"),
    ("Product docs", "docs", EVAL_ROOT / "anthropic-docs", EVAL_ROOT / "splits" / "anthropic-docs-dev.txt"),
]


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "memory_gb": f"{psutil.virtual_memory().total / 2**30:.1f}",
            "python": platform.python_version(), "os": platform.platform()}


def code_under_test() -> str:
    """The commit being measured, read when the run starts (the code is imported then), and whether
    the code in the working tree differed from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "agent", "bot", "adapters", "bench", "pyproject.toml")
    except (OSError, subprocess.CalledProcessError):
        return "commit unknown"
    return f"commit `{commit}`" + (" plus uncommitted changes" if dirty else "")


async def quality(limit: int) -> list[dict[str, Any]]:
    results = []
    for label, fmt, path, dev in SETS:
        dataset = load(fmt, path)
        questions = select(dataset.questions, exclude_ids=dev, limit=limit, seed=6)
        started = time.perf_counter()
        report = await evaluate(dataset, questions)
        report.update(label=label, seconds=time.perf_counter() - started,
                      holdout_total=len([q for q in dataset.questions if q.id not in set(dev.read_text().split())]))
        results.append(report)
        print(json.dumps({k: v for k, v in report.items() if k != "systems"}), file=sys.stderr)
    return results


async def answering(limit: int) -> list[dict[str, Any]]:
    """Answer rate on in-corpus holdout questions and false-answer rate on out-of-corpus ones, per QA
    set, ours beside the baseline (`bench.answerability`)."""
    results = []
    for label, fmt, path, dev in SETS:
        if fmt != "squad":
            continue  # the docs set has no articles to leave out
        halves = answerability.divide(load_squad(path), split_ids=read_ids(dev), use="holdout", limit=limit, seed=6)
        report = await answerability.measure(halves)
        report.update(label=label)
        results.append(report)
        print(json.dumps({k: v for k, v in report.items() if k != "systems"}), file=sys.stderr)
    return results


def render_answering(results: list[dict[str, Any]], limit: int) -> list[str]:
    lines = [
        "## Answering or declining (holdout)",
        "",
        "`python -m bench.answerability` for each QA set: the articles are divided, seeded, into two halves;"
        " one half is ingested. *In corpus*: holdout questions about ingested articles (the share answered, and"
        " the share whose reply contains a gold answer). *Out of corpus*: holdout questions about articles"
        f" never ingested, asked of the same knowledge base: every answer is a false one. A seeded sample of {limit}"
        " questions per half (fewer where a half has fewer). Targets: false answers ≤ 5% while in-corpus questions"
        " are answered ≥ 95% of the time and containment stays ≥ 0.80.",
        "",
        "| set | system | in corpus (questions) | answered | answer contained | out of corpus (questions) |"
        " false answers |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for report in results:
        for name, s in report["systems"].items():
            lines.append(
                f"| {report['label']} | {name} | {report['in_corpus_questions']} | {_f(s['answer_rate'])} |"
                f" {_f(s['containment'])} | {report['out_of_corpus_questions']} | {_f(s['false_answer_rate'])} |"
            )
    lines += [
        "",
        "- *ours* declines when no passage answers (agent/answerability.py: rarity-weighted coverage of the"
        " question's words, how like the question its closest sentence reads, a name no document mentions, the"
        " kind of answer asked, a Korean question's numbers); the *baseline* never declines while it has any chunk.",
        "",
    ]
    return lines


def _f(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def render(command: str, started: datetime.datetime, code: str, quality_results: list[dict[str, Any]],
           speed_results: dict[str, Any], limit: int, answering_results: list[dict[str, Any]] | None = None,
           answering_limit: int = 200) -> str:
    m = machine()
    lines = [
        "# Benchmarks",
        "",
        "Produced by `bench/` (benchmarks, not tests). Numbers below come from one run of:",
        "",
        "```",
        command,
        "```",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; {code}",
        f"- machine: `nproc` = {m['nproc']}, CPU {m['cpu']}, {m['memory_gb']} GB memory, Python {m['python']},"
        f" {m['os']}",
        "- offline: the bundled WordLlama model (256 dimensions) for both systems, no network.",
        "- timings on this small virtual machine vary from run to run (Chroma's `add`, bound by its disk writes,"
        " by a third): compare figures within one run, and re-run `python -m bench.speed` to check.",
        "",
        "## Retrieval and extractive answers (holdout)",
        "",
        f"Holdout = every question not in `splits/*-dev.txt`; a seeded random sample of {limit} questions"
        " per QA set (`random.Random(6)`), all 70 holdout questions of the docs set. The full passage"
        " collection of each set is ingested. Tuning was done on the dev splits only.",
        "",
        "| set | questions | system | recall@1 | recall@5 | MRR@10 | answer contained | reply chars | chunks |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for report in quality_results:
        for name, s in report["systems"].items():
            contained = _f(s["containment"]) if "containment" in s else "–"
            chars = f"{s['reply_chars_mean']:.0f}" if "reply_chars_mean" in s else "–"
            lines.append(
                f"| {report['label']} | {s['questions']} | {name} | {_f(s['recall@1'])} | {_f(s['recall@5'])} |"
                f" {_f(s['mrr@10'])} | {contained} | {chars} | {s['chunks']} |"
            )
    ing = speed_results["ingestion"]
    lines += [
        "",
        "- *ours*: teambot's pipeline (`KnowledgeBase.ingest`, `HybridRetriever.retrieve`, the agent graph in"
        " extractive mode). *baseline*: the tutorial bot: `RecursiveCharacterTextSplitter(1000, 200)`, the same"
        " WordLlama embeddings, Chroma cosine, dense-only top-k, no lexical index; without a model it replies"
        " with its best chunk.",
        "- gold passage: each SQuAD/KorQuAD paragraph is ingested as its own document (neutral file name,"
        " one scope); a hit is any chunk of the gold paragraph. Docs set: each `chunk_link` is a document"
        " (file named after the link's path), a hit is any chunk of any gold link.",
        "- answer contained: SQuAD's answer normalisation (lower case, punctuation and English articles"
        " removed, white space collapsed); a gold answer must be a substring of the reply, citation marks and"
        " the fixed \"no model\" note removed. *reply chars* is the mean length of that reply: the baseline's"
        " containment comes from showing a whole chunk.",
        "",
        *(render_answering(answering_results, answering_limit) if answering_results else []),
        "## Speed and memory",
        "",
        "| measure | ours | reference | target |",
        "| --- | ---: | ---: | --- |",
        f"| ingestion, chunks/s end to end ({ing['documents']} articles, {ing['chunks']} chunks) |"
        f" {ing['ours_chunks_per_s']:.0f} | Chroma `add` of precomputed vectors: {ing['chroma_add_chunks_per_s']:.0f}"
        f" ({100 * ing['ratio']:.0f}%; rounds: {', '.join(f'{100 * r:.0f}%' for r in ing.get('ratios', []))})"
        " | ≥ 80% of Chroma |",
    ]
    if "bulk_ratio" in ing:
        lines.append(
            "| the same, against Chroma's fastest `add` (its largest batches) |"
            f" {ing['ours_chunks_per_s']:.0f} | {ing['chroma_bulk_add_chunks_per_s']:.0f}"
            f" ({100 * ing['bulk_ratio']:.0f}%; rounds: {', '.join(f'{100 * r:.0f}%' for r in ing['bulk_ratios'])})"
            " | stricter reference |"
        )
    sizes = speed_results["serving"]["sizes"]
    for s in sizes.values():
        lines.append(f"| overhead per answer at {s['chunks']} chunks, p50 / p95 (ms) |"
                     f" {s['overhead_ms_p50']:.0f} / {s['overhead_ms_p95']:.0f} | – | p95 ≤ 50 ms at 100k |")
    first = next(iter(sizes.values()))
    lines += [
        f"| first token beyond the model's own, p50 / p95 (ms) | {first['first_token_extra_ms_p50']:.0f} /"
        f" {first['first_token_extra_ms_p95']:.0f} | model's own first token {first['model_first_token_ms_p50']:.0f}"
        " ms | ≤ 150 ms |",
        f"| 100 concurrent conversations, model takes 1 s (total s) | {first['concurrent_100_total_s']:.2f} |"
        f" ideal ≈ 1 s; {first['concurrent_max_in_flight']} requests in flight at once | ≤ 1.5 s |",
    ]
    floor = first.get("concurrent_100_floor")
    if floor:
        lines.append(
            f"| the same 100 streamed calls through the libraries alone (total s) |"
            f" {floor['langgraph_and_langchain_openai_s']:.2f} | langchain-openai without LangGraph:"
            f" {floor['langchain_openai_s']:.2f} | floor for the row above |"
        )
    for label, mem in speed_results["memory"].items():
        lines.append(f"| resident memory, {label.replace('_', ' ')} (MB) | {mem['rss_mb_after_questions']:.0f} |"
                     f" after start {mem['rss_mb_after_start']:.0f} | ≤ 600 MB at 100k |")
    lines += [
        "",
        "- overhead: `Dispatcher.handle` with a loopback OpenAI-compatible server (`tests/support/openai_server.py`)"
        " that answers instantly, from the incoming message to the reply handed to the reply stream; it"
        " includes one loopback HTTP round trip, sequential questions from the QA holdout.",
        "- the 10k/100k knowledge bases are synthetic (`bench.speed.synthetic_documents`): SQuAD and KorQuAD"
        " paragraphs drawn at random, sentences rotated, every number replaced with a random one and a"
        " `Variant <n>` tag prepended, 400 paragraphs per document, all in the asking channel, ingested"
        " through `KnowledgeBase.ingest` until the target chunk count is reached.",
        "- first token: the loopback model waits 0.5 s before its first token; its own time to first token is"
        " measured with a raw streaming HTTP client; ours is from the message to the first streamed delta.",
        "- concurrency: the loopback model runs in its own process (as a real model does) and waits 1 s before"
        " streaming; the floor row sends the same 100 streamed requests (system prompt the size of five passages)"
        " through langchain-openai, inside a two-node LangGraph graph and bare: no retrieval, Redis or dispatcher.",
        "- memory: RSS of a fresh process (`python -m bench.speed --probe DIR`) running the whole bot (embedded"
        " Redis is a separate process and not counted), after start and after 20/50 questions.",
        "",
        "## Raw results",
        "",
        "```json",
        json.dumps({"quality": [{k: v for k, v in r.items()} for r in quality_results],
                    "answering": answering_results or [], "speed": speed_results},
                   indent=1, default=str)[:20000],
        "```",
        "",
    ]
    return "\n".join(lines)


READING = "## Targets: met and missed"


def keep_reading(text: str, output: Path) -> str:
    """Carry the hand-written reading of the previous run over, before the raw results, to be revised."""
    try:
        previous = output.read_text(encoding="utf-8")
    except OSError:
        return text
    start, end = previous.find(READING), previous.find("## Raw results")
    if start < 0 or end < start:
        return text
    reading = previous[start:end]
    return text.replace("## Raw results", reading + "## Raw results", 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--chunks", default="10000,100000")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--answerability-limit", type=int, default=200,
                        help="holdout questions per half for the answer and false-answer rates")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    command = "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:])
    started = datetime.datetime.now(datetime.UTC)
    code = code_under_test()
    quality_results = asyncio.run(quality(args.limit))
    for report in quality_results:
        for s in report["systems"].values():
            s.pop("misses@5", None)
            s.pop("not_contained", None)
    answering_results = asyncio.run(answering(args.answerability_limit))
    for report in answering_results:
        for s in report["systems"].values():
            s.pop("declined_in_corpus", None)
            s.pop("answered_out_of_corpus", None)
    speed_results = asyncio.run(speed.run([int(s) for s in args.chunks.split(",")], args.questions))
    text = render(command.strip(), started, code, quality_results, speed_results, args.limit,
                  answering_results, args.answerability_limit)
    args.output.write_text(keep_reading(text, args.output), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
