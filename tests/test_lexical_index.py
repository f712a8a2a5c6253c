"""The catalog and its term index for real (SQLite and tantivy on disk): search, recovery, migration."""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
import tantivy

from agent.catalog import Catalog
from agent.lexical_search import LexicalSearch, TermStatistics
from agent.term_sync import TermIndexSync
from agent.termindex import ScopeStatistics, TermIndex, stored_length
from agent.text import TOKENIZER_VERSION, lexical_tokens
from bot.core.values import Scope
from tests.support.indexed_documents import ENGINEERING, SALES, indexed_document, open_knowledge


async def _search(lexical: LexicalSearch, question: str, *scopes: Scope) -> list[str]:
    return [chunk_id for chunk_id, _ in await lexical.search(lexical_tokens(question), list(scopes), limit=5)]


def _terms_dir(path: Path) -> Path:
    return path.with_name(path.stem + ".terms")


async def test_search_sees_every_write_as_soon_as_it_returns(tmp_path: Path) -> None:
    async with open_knowledge(tmp_path / "k.sqlite3") as (catalog, lexical):
        await catalog.replace_document(*indexed_document("pricing", SALES, ["Enterprise seats cost 40 euros a month."]))
        assert await _search(lexical, "enterprise seats", SALES) == ["pricing#0"]

        await catalog.replace_document(*indexed_document("pricing", SALES, ["Team seats cost 12 euros a month."]))
        assert await _search(lexical, "enterprise seats", SALES) == ["pricing#0"]  # "seats" still matches
        assert [c for c in await _search(lexical, "enterprise", SALES)] == []

        await catalog.delete_document("pricing")
        assert await _search(lexical, "seats", SALES) == []


async def test_a_search_during_the_background_commit_waits_for_it(tmp_path: Path) -> None:
    async with open_knowledge(tmp_path / "k.sqlite3", commit_delay_s=0) as (catalog, lexical):
        for word in ("alpaca", "bison", "camel", "dingo", "eland"):
            await catalog.replace_document(*indexed_document(word, SALES, [f"The release is named {word}."]))
            for _ in range(3):  # the commit timer fires, the background sync starts and is committing
                await asyncio.sleep(0)
            assert await _search(lexical, word, SALES) == [f"{word}#0"]


async def test_processes_sharing_the_directory_take_turns_writing(tmp_path: Path) -> None:
    """Replicas on one host share the data directory; tantivy allows one writer at a time."""
    path = tmp_path / "k.sqlite3"
    catalog = Catalog(path)
    sync = TermIndexSync.beside(catalog)
    terms = tantivy.Index.open(str(_terms_dir(path)))
    other = terms.writer(heap_size=15_000_000, num_threads=1)  # another process is writing...
    release = threading.Timer(0.5, other.wait_merging_threads)  # ...and is done in 0.5 s
    release.start()
    try:
        async with catalog, sync:  # opening builds the term index: it waits for its turn
            await catalog.replace_document(*indexed_document("ports", SALES, ["The console listens on port 8080."]))
            assert await _search(LexicalSearch(catalog=catalog, terms=sync), "console port", SALES) == ["ports#0"]
            await asyncio.sleep(1.5)  # writes paused: our writer is released for the others
            terms.writer(heap_size=15_000_000, num_threads=1).wait_merging_threads()
    finally:
        release.join()


async def test_search_stays_within_the_allowed_scopes(tmp_path: Path) -> None:
    async with open_knowledge(tmp_path / "k.sqlite3") as (catalog, lexical):
        await catalog.replace_document(*indexed_document("deploys", ENGINEERING, ["Deploys freeze on Fridays."]))
        await catalog.replace_document(*indexed_document("quota", SALES, ["The quarterly quota freeze is in March."]))
        assert await _search(lexical, "freeze", SALES) == ["quota#0"]
        assert set(await _search(lexical, "freeze", SALES, ENGINEERING)) == {"quota#0", "deploys#0"}
        candidates = await lexical.lexical_candidates(lexical_tokens("freeze"), [SALES], limit=5, max_share=1.0,
                                                      max_terms=5)
        assert [chunk_id for chunk_id, _ in candidates.hits] == ["quota#0"]
        # Statistics are counted within the allowed scopes: engineering's "freeze" is none of sales' business.
        assert candidates.statistics.chunks == 1 and candidates.statistics.frequencies == {"freeze": 1}
        both = await lexical.lexical_candidates(lexical_tokens("freeze"), [SALES, ENGINEERING], limit=5,
                                                max_share=1.0, max_terms=5)
        assert both.statistics.chunks == 2 and both.statistics.frequencies == {"freeze": 2}


async def test_ranking_in_a_channel_ignores_how_long_chunks_are_elsewhere(tmp_path: Path) -> None:
    """BM25 normalises a chunk's length by the average; counted over every channel, a long document
    elsewhere would reorder this channel's results (tantivy ranks "twice" first then)."""
    async with open_knowledge(tmp_path / "k.sqlite3") as (catalog, lexical):
        filler = " ".join(f"filler{i}" for i in range(8))
        await catalog.replace_document(*indexed_document("twice", SALES, [f"zephyr zephyr {filler}"]))
        await catalog.replace_document(*indexed_document("once", SALES, ["zephyr"]))

        async def best() -> list[tuple[str, float]]:
            found = await lexical.lexical_candidates(["zephyr"], [SALES], limit=1, max_share=1.0, max_terms=5)
            return found.hits

        alone = await best()
        assert [chunk_id for chunk_id, _ in alone] == ["once#0"]
        weights = await lexical.idf(["zephyr", "word1"], [SALES])
        long_text = "zephyr " + " ".join(f"word{i}" for i in range(3000))
        for number, scope in enumerate([ENGINEERING, Scope("discord", "G1", "C1"), Scope("slack", "T2", "C-sales")]):
            await catalog.replace_document(*indexed_document(f"long{number}", scope, [long_text, "zephyr zephyr"]))
        assert await best() == alone
        assert await lexical.idf(["zephyr", "word1"], [SALES]) == weights
        assert (await lexical.idf(["word1"], [SALES]))["word1"] > (await lexical.idf(["word1"], [ENGINEERING]))["word1"]


def test_bm25_within_one_scope_is_tantivys_own(tmp_path: Path) -> None:
    """Hits are rescored with the allowed scopes' statistics; with one scope, that is tantivy's score
    (chunk lengths rounded as tantivy stores them, beyond 40 terms)."""
    terms = TermIndex(tmp_path / "t.terms")
    chunks = {rowid: ["alpha"] * (rowid % 3 + 1) + ["beta"] * (rowid % 2) + [f"w{i}" for i in range(rowid * 7)]
              for rowid in range(1, 120)}
    terms.write([("doc", [(rowid, SALES.key, " ".join(words)) for rowid, words in chunks.items()])])
    counted = terms.scope_statistics(["alpha", "beta", "gamma"], [SALES.key])
    assert counted.chunks == len(chunks) and counted.terms == sum(map(len, chunks.values()))
    assert counted.frequencies == {"alpha": len(chunks), "beta": sum(1 for r in chunks if r % 2)}
    statistics = TermStatistics.of(counted)
    idf = statistics.bm25_idf(["alpha", "beta"])
    ranked = terms.search(["alpha", "beta"], [SALES.key], limit=len(chunks))
    assert len(ranked) == len(chunks)
    for rowid, score in ranked:
        assert statistics.bm25(chunks[rowid], idf) == pytest.approx(score, rel=1e-5)
    assert terms.scope_statistics(["alpha"], [ENGINEERING.key]) == ScopeStatistics(chunks=0, terms=0, frequencies={})
    assert stored_length(2**40) == 2_013_265_944  # tantivy's longest (src/fieldnorm/code.rs)
    terms.release()


async def test_a_stale_term_index_cannot_leak_another_channels_chunk(tmp_path: Path) -> None:
    """Until the term index catches up, a row id it knows may belong to another channel's chunk."""
    path = tmp_path / "k.sqlite3"
    async with open_knowledge(path) as (catalog, lexical):
        await catalog.replace_document(*indexed_document("pricing", SALES, ["Enterprise seats cost 40 euros a month."]))
        assert await _search(lexical, "enterprise seats", SALES) == ["pricing#0"]
        with sqlite3.connect(path) as db:  # behind the term index's back: the row now is engineering's
            db.execute("UPDATE documents SET channel = ? WHERE id = 'pricing'", (ENGINEERING.channel,))
        assert await _search(lexical, "enterprise seats", SALES) == []
        assert await _search(lexical, "enterprise seats", ENGINEERING) == []  # the term index says sales


async def test_korean_terms_and_overlong_tokens(tmp_path: Path) -> None:
    blob = "x" * 5000  # one 5,000-letter "word", as in a pasted base64 blob
    async with open_knowledge(tmp_path / "k.sqlite3") as (catalog, lexical):
        await catalog.replace_document(*indexed_document("leave", SALES, [f"연차 휴가는 매년 15일입니다. {blob}"]))
        assert await _search(lexical, "휴가는 며칠인가요?", SALES) == ["leave#0"]
        assert await _search(lexical, blob, SALES) == []


async def test_a_lost_term_index_is_rebuilt_from_the_catalog(tmp_path: Path) -> None:
    path = tmp_path / "k.sqlite3"
    async with open_knowledge(path) as (catalog, lexical):
        await catalog.replace_document(*indexed_document("backups", SALES, ["Backups run nightly at 02:00."]))
    shutil.rmtree(_terms_dir(path))
    async with open_knowledge(path) as (catalog, lexical):
        assert await _search(lexical, "when do backups run", SALES) == ["backups#0"]


@pytest.mark.parametrize("damage", ["garbled", "other schema"])
async def test_an_unusable_term_index_is_rebuilt_from_the_catalog(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "k.sqlite3"
    async with open_knowledge(path) as (catalog, lexical):
        await catalog.replace_document(*indexed_document("backups", SALES, ["Backups run nightly at 02:00."]))
    if damage == "garbled":
        (_terms_dir(path) / "meta.json").write_text("{not json")
    else:  # as an older or newer teambot with other fields would have left it
        shutil.rmtree(_terms_dir(path))
        _terms_dir(path).mkdir()
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("body")
        tantivy.Index(builder.build(), path=str(_terms_dir(path)))
    async with open_knowledge(path) as (catalog, lexical):
        assert await _search(lexical, "when do backups run", SALES) == ["backups#0"]


async def test_catalog_changes_the_term_index_missed_are_applied_at_open(tmp_path: Path) -> None:
    """A crash after the catalog committed but before the term index did leaves the outbox behind."""
    path = tmp_path / "k.sqlite3"
    async with open_knowledge(path) as (catalog, lexical):
        await catalog.replace_document(*indexed_document("backups", SALES, ["Backups run nightly at 02:00."]))
        await catalog.replace_document(*indexed_document("ports", SALES, ["The console listens on port 8080."]))
    # What the catalog holds after such a crash: one document changed, one deleted, both in the outbox.
    with sqlite3.connect(path) as db:
        db.execute("UPDATE chunks SET text = 'Backups run weekly.', terms = 'backup run weekly' WHERE id = 'backups#0'")
        db.execute("DELETE FROM chunks WHERE document_id = 'ports'")
        db.execute("DELETE FROM documents WHERE id = 'ports'")
        db.executemany("INSERT INTO lexical_outbox (document_id) VALUES (?)", [("backups",), ("ports",)])

    async with open_knowledge(path) as (catalog, lexical):
        assert await _search(lexical, "weekly", SALES) == ["backups#0"]
        assert await _search(lexical, "nightly", SALES) == []
        assert await _search(lexical, "console port", SALES) == []
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM lexical_outbox").fetchone() == (0,)


async def test_a_term_index_that_disagrees_with_the_catalog_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "k.sqlite3"
    async with open_knowledge(path) as (catalog, lexical):
        await catalog.replace_document(*indexed_document("backups", SALES, ["Backups run nightly at 02:00."]))
        await catalog.replace_document(*indexed_document("ports", SALES, ["The console listens on port 8080."]))
    with sqlite3.connect(path) as db:  # say, a database restored from an older backup than the index
        db.execute("DELETE FROM chunks WHERE document_id = 'ports'")
        db.execute("DELETE FROM documents WHERE id = 'ports'")
    async with open_knowledge(path) as (catalog, lexical):
        assert await _search(lexical, "console port", SALES) == []
        assert (await lexical.lexical_candidates(lexical_tokens("console"), [SALES], limit=5, max_share=1.0,
                                                 max_terms=5)).statistics.chunks == 1


# The layout before the term index moved to tantivy: terms in an FTS5 table, after a scope marker.
_FTS5_LAYOUT = """
CREATE TABLE documents (
    id TEXT PRIMARY KEY, platform TEXT NOT NULL, workspace TEXT NOT NULL, channel TEXT NOT NULL,
    source TEXT NOT NULL, title TEXT NOT NULL, content_hash TEXT NOT NULL, uploader TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '', chunk_count INTEGER NOT NULL, size_bytes INTEGER NOT NULL,
    ingested_at REAL NOT NULL
);
CREATE TABLE chunks (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, text TEXT NOT NULL, location TEXT NOT NULL
);
CREATE VIRTUAL TABLE chunks_fts USING fts5 (terms, tokenize = 'unicode61 remove_diacritics 0');
CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab (chunks_fts, row);
INSERT INTO documents VALUES ('backups', 'slack', 'T1', 'C-sales', 'backups.md', 'backups', 'h', 'U1', '', 1, 30, 0);
INSERT INTO chunks VALUES (7, 'backups#0', 'backups', 0, 'Backups run nightly at 02:00.', '');
INSERT INTO chunks_fts (rowid, terms) VALUES (7, 'zzscope0123456789abcdef0123 backup backup run nightly 02 00');
"""


async def test_a_knowledge_file_from_the_fts5_layout_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "k.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(_FTS5_LAYOUT)
    async with open_knowledge(path) as (catalog, lexical):
        assert await _search(lexical, "nightly backups", SALES) == ["backups#0"]
        stored = await catalog.candidate_details(["backups#0"], with_terms=["backups#0"])
        assert stored.terms["backups#0"] == ["backup", "backup", "run", "nightly", "02", "00"]
        assert [d.id for d in await catalog.list_documents([SALES])] == ["backups"]
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "chunks_fts" not in tables and "chunks_vocab" not in tables


def test_a_failed_term_index_write_leaves_it_as_it_was_and_usable(tmp_path: Path) -> None:
    terms = TermIndex(tmp_path / "t.terms")
    terms.write([("backups", [(1, SALES.key, "backup run nightly")])])

    def broken_rows():
        yield 2, SALES.key, "console port"
        raise OSError("disk full")

    with pytest.raises(OSError):
        terms.write([("ports", broken_rows())])
    assert terms.search(["console"], [SALES.key], limit=5) == []  # nothing half-written
    terms.write([("ports", [(2, SALES.key, "console port")])])
    assert [rowid for rowid, _ in terms.search(["console", "nightly"], [SALES.key], limit=5)] == [2, 1]
    terms.release()


@pytest.mark.parametrize("recorded", ["older version", "not recorded"])
async def test_terms_stored_by_an_earlier_tokenizer_are_recomputed_on_open(tmp_path: Path, recorded: str) -> None:
    path = tmp_path / "k.sqlite3"
    async with open_knowledge(path) as (catalog, lexical):
        info, chunks, _ = indexed_document("backups", SALES, ["Backups run nightly at 02:00."])
        await catalog.replace_document(info, chunks, [["stale", "terms"]])  # as other rules would have made them
        assert await _search(lexical, "nightly backups", SALES) == []
    with sqlite3.connect(path) as db:
        if recorded == "older version":
            db.execute("UPDATE index_meta SET value = ? WHERE key = 'tokenizer_version'", (str(TOKENIZER_VERSION - 1),))
        else:  # a catalog from before the version was kept
            db.execute("DELETE FROM index_meta")
    async with open_knowledge(path) as (catalog, lexical):
        assert await _search(lexical, "nightly backups", SALES) == ["backups#0"]
        assert await _search(lexical, "stale terms", SALES) == []
        stored = await catalog.candidate_details(["backups#0"], with_terms=["backups#0"])
        assert stored.terms["backups#0"] == lexical_tokens("backups\n\nBackups run nightly at 02:00.")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM index_meta").fetchall() == [(str(TOKENIZER_VERSION),)]


async def test_terms_of_the_current_tokenizer_are_not_recomputed(tmp_path: Path) -> None:
    path = tmp_path / "k.sqlite3"
    async with open_knowledge(path) as (catalog, lexical):
        info, chunks, _ = indexed_document("backups", SALES, ["Backups run nightly at 02:00."])
        await catalog.replace_document(info, chunks, [["kept", "terms"]])
    async with open_knowledge(path) as (catalog, lexical):
        assert await _search(lexical, "kept terms", SALES) == ["backups#0"]


async def test_bm25_hits_are_the_best_by_the_allowed_scopes_statistics(tmp_path: Path) -> None:
    """Whatever other scopes hold (here: far longer chunks), the hits are the chunks with the best BM25
    scores computed from the allowed scopes alone, as a search of those scopes alone would rank them."""
    rng = random.Random(5)
    vocabulary = [f"word{i}" for i in range(40)]
    async with (open_knowledge(tmp_path / "alone.sqlite3") as (alone_catalog, alone),
                open_knowledge(tmp_path / "together.sqlite3") as (together_catalog, together)):
        for number in range(60):
            text = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 30)))
            for catalog in (alone_catalog, together_catalog):
                await catalog.replace_document(*indexed_document(f"sales{number}", SALES, [text]))
        for number in range(60):
            text = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(100, 400)))
            await together_catalog.replace_document(*indexed_document(f"eng{number}", ENGINEERING, [text]))
        for _ in range(40):
            question = [rng.choice(vocabulary) for _ in range(rng.randint(1, 3))]
            expected = await alone.lexical_candidates(question, [SALES], limit=5, max_share=1.0, max_terms=5)
            found = await together.lexical_candidates(question, [SALES], limit=5, max_share=1.0, max_terms=5)
            assert found.hits == expected.hits
            assert found.statistics == expected.statistics


async def test_a_small_channel_searches_for_the_words_it_holds(tmp_path: Path) -> None:
    """Counted within a channel of a few chunks, every word it holds is in a large share of them;
    the selective-term filter must not leave only the question's words the channel lacks."""
    async with open_knowledge(tmp_path / "k.sqlite3") as (catalog, lexical):
        await catalog.replace_document(*indexed_document("laptops", SALES, ["Laptops are replaced every three years."]))
        await catalog.replace_document(*indexed_document("holidays", SALES, ["The office closes at Christmas."]))
        found = await lexical.lexical_candidates(lexical_tokens("How often are zorblax laptops replaced?"), [SALES],
                                                 limit=5, max_share=0.05, max_terms=16)
        assert [chunk_id for chunk_id, _ in found.hits] == ["laptops#0"]


@pytest.mark.parametrize("elsewhere", ["longer", "shorter"])
async def test_hits_in_a_channel_do_not_depend_on_other_scopes_documents(tmp_path: Path, elsewhere: str) -> None:
    """Seeded property: for random questions at limits 1, 2, 5 and 40, a channel's hits (its own chunks
    and the workspace-wide ones) are the same with and without many other scopes' documents, whether
    those scopes' chunks are far longer than the channel's or far shorter (tantivy's length
    normalisation then ranks the channel's chunks unlike the channel's own statistics do)."""
    rng = random.Random(f"scopes-{elsewhere}")
    vocabulary = [f"word{i}" for i in range(30)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]  # a few common words, many rare ones

    def text(low: int, high: int) -> str:
        return " ".join(rng.choices(vocabulary, weights, k=rng.randint(low, high)))

    visible = [SALES, SALES.workspace_wide()]
    others = [ENGINEERING, Scope("slack", "T1", "C-ops"), Scope("slack", "T2", "C-sales"),
              Scope("slack", "T2", "*"), Scope("discord", "G1", "C1"), Scope("discord", "G1", "*")]
    lengths = (60, 200) if elsewhere == "longer" else (1, 3)
    async with (open_knowledge(tmp_path / "alone.sqlite3") as (alone_catalog, alone),
                open_knowledge(tmp_path / "together.sqlite3") as (together_catalog, together)):
        for number in range(24):
            scope = visible[number % 4 == 0]
            texts = [text(1, 12) for _ in range(12)]
            for catalog in (alone_catalog, together_catalog):
                await catalog.replace_document(*indexed_document(f"here{number}", scope, texts))
        for number in range(60):
            texts = [text(*lengths) for _ in range(20)]
            scope = others[number % len(others)]
            await together_catalog.replace_document(*indexed_document(f"there{number}", scope, texts))
        for limit in (1, 2, 5, 40):
            for _ in range(25):
                question = rng.sample(vocabulary, rng.randint(1, 3))
                expected = await alone.lexical_candidates(question, visible, limit=limit, max_share=1.0, max_terms=5)
                found = await together.lexical_candidates(question, visible, limit=limit, max_share=1.0, max_terms=5)
                assert found.hits == expected.hits, (limit, question)
                assert found.statistics == expected.statistics
