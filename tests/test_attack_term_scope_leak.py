"""Attack: another channel's documents change which chunks a channel's BM25 search returns.

README (Security and limits): "Adding a document elsewhere never changes an answer, a decline, a
citation or the order of passages here". `LexicalSearch._search` asks tantivy, which normalises
chunk lengths by the whole index's average, for at most `_MAX_RESCORED_FACTOR * limit` hits and
rescores them with the channel's own statistics. When another channel's chunks are much longer
than this channel's, tantivy ranks this channel's short best chunk below 160 others, the read stops
at the cap, and that chunk is missing from the candidates, at the retriever's own settings.
"""

from __future__ import annotations

from pathlib import Path

from agent.lexical_search import LexicalSearch
from agent.retrieval import FusionWeights
from tests.support.indexed_documents import ENGINEERING, SALES, indexed_document, open_knowledge


async def _best(lexical: LexicalSearch) -> list[tuple[str, float]]:
    weights = FusionWeights()
    found = await lexical.lexical_candidates(["zephyr"], [SALES], limit=weights.candidates,
                                             max_share=weights.common_term_share, max_terms=weights.max_search_terms)
    return found.hits


async def test_long_chunks_elsewhere_do_not_drop_this_channels_best_chunk(tmp_path: Path) -> None:
    async with open_knowledge(tmp_path / "k.sqlite3") as (catalog, lexical):
        # This channel: 200 short chunks saying "zephyr" twice, and the shortest one saying it once.
        for number in range(200):
            await catalog.replace_document(*indexed_document(
                f"twice{number}", SALES, [f"zephyr zephyr alpha{number} beta{number} gamma{number}"]))
        await catalog.replace_document(*indexed_document("once", SALES, ["zephyr"]))
        alone = await _best(lexical)
        assert alone[0][0] == "once#0"
        # Another channel's ordinary, chunk-sized documents (about 150 words a chunk).
        for number in range(100):
            texts = [" ".join(f"word{number}x{part}x{i}" for i in range(150)) for part in range(10)]
            await catalog.replace_document(*indexed_document(f"eng{number}", ENGINEERING, texts))
        together = await _best(lexical)
    assert together == alone, (
        f"best chunk here was {alone[0]}; after uploads elsewhere: "
        f"{dict(together).get('once#0', 'absent')}, top {together[0]}")
