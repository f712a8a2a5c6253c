"""Retrieval behaviour: Korean particles, English stemming, scope filtering and reranking."""

from __future__ import annotations

from agent.retrieval import (
    FusionWeights,
    HybridRetriever,
    best_window,
    heading_terms,
    phrase_share,
    rerank_scores,
)
from agent.text import lexical_tokens
from bot.app import Teambot
from bot.core.values import Scope

CHANNEL = Scope("slack", "T1", "C1")
OTHER = Scope("slack", "T1", "C2")


async def _ingest(bot: Teambot, name: str, text: str, scope: Scope = CHANNEL) -> None:
    await bot.knowledge.ingest(name=name, data=text.encode("utf-8"), scope=scope, uploader="U1")


async def test_korean_matches_whatever_particle_is_attached(teambot: Teambot) -> None:
    await _ingest(teambot, "회의.txt", "회의록은 매주 금요일에 위키에 공유됩니다.")
    await _ingest(teambot, "휴가.txt", "연차 휴가는 입사 첫해에 15일이 주어집니다.")
    passages = await teambot.retriever.retrieve("회의록을 어디에서 볼 수 있나요?", [CHANNEL], k=2)
    assert passages[0].chunk.source == "회의.txt"
    assert passages[0].coverage > 0
    passages = await teambot.retriever.retrieve("휴가를 며칠 받나요?", [CHANNEL], k=2)
    assert passages[0].chunk.source == "휴가.txt"


async def test_english_inflections_match_through_stemming(teambot: Teambot) -> None:
    await _ingest(teambot, "deploy.txt", "Deployments run nightly from the release branches.")
    await _ingest(teambot, "lunch.txt", "Lunch is served in the cafeteria at noon.")
    passages = await teambot.retriever.retrieve("When do deployment runs start, and from which branch?", [CHANNEL], k=2)
    assert passages[0].chunk.source == "deploy.txt"
    assert passages[0].coverage > 0.5


async def test_other_channels_documents_are_never_returned(teambot: Teambot) -> None:
    await _ingest(teambot, "secret.txt", "The vault password rotation happens every Tuesday.", scope=OTHER)
    await _ingest(teambot, "public.txt", "The cafeteria opens at eight.")
    passages = await teambot.retriever.retrieve("vault password rotation Tuesday", [CHANNEL], k=5)
    assert all(p.chunk.scope == CHANNEL for p in passages)
    assert not any(p.chunk.source == "secret.txt" for p in passages)
    allowed = await teambot.retriever.retrieve("vault password rotation Tuesday", [OTHER], k=5)
    assert allowed[0].chunk.source == "secret.txt"


async def test_question_words_close_together_rank_first(teambot: Teambot) -> None:
    scattered = ("The database team meets on Mondays. " + "Coffee and snacks are provided. " * 12
                 + "Ask facilities about parking and the port of Hamburg.")
    await _ingest(teambot, "scattered.txt", scattered)
    await _ingest(teambot, "config.txt", "The database port is 5432 in every environment.")
    passages = await teambot.retriever.retrieve("Which port does the database use?", [CHANNEL], k=2)
    assert passages[0].chunk.source == "config.txt"


async def test_top_k_is_a_prefix_of_a_longer_list(teambot: Teambot) -> None:
    for n, topic in enumerate(["billing invoices", "invoice disputes", "billing cycles", "refund invoices"]):
        await _ingest(teambot, f"doc{n}.txt", f"Notes about {topic} and how the billing team handles them.")
    five = await teambot.retriever.retrieve("how are billing invoices handled", [CHANNEL], k=5)
    two = await teambot.retriever.retrieve("how are billing invoices handled", [CHANNEL], k=2)
    assert [p.chunk.id for p in two] == [p.chunk.id for p in five[:2]]


ORBIT = """# Orbit

Orbit is the internal service catalog: one page per service with its owners, runbooks and dashboards.

## Deploying Orbit

Deploy Orbit with `make release`; Orbit restarts Orbit workers one by one.

## Orbit on call

Orbit pages the Orbit owners of a service when its Orbit health check fails.

## Orbit permissions

Orbit admins grant Orbit edit rights per team.
"""

RULES = """# 근무 규정

근무 규정은 출퇴근 시간, 휴가와 재택근무에 관한 회사의 기본 원칙을 정리한 문서입니다.

## 연차

근무 규정에 따라 연차는 매년 15일이 주어집니다.

## 재택근무

근무 규정상 재택근무는 주 2회까지 가능합니다.
"""


async def test_a_question_about_a_whole_document_gets_its_beginning(teambot: Teambot) -> None:
    """"What is Orbit?" is answered by the page's introduction, not the section naming Orbit most."""
    await _ingest(teambot, "orbit.md", ORBIT)
    await _ingest(teambot, "근무-규정.md", RULES)
    await _ingest(teambot, "lunch.txt", "Lunch is served in the cafeteria at noon.")
    for question in ("What is Orbit?", "orbit", "What does Orbit do?"):
        [first, *_] = await teambot.retriever.retrieve(question, [CHANNEL], k=3)
        assert (first.chunk.source, first.chunk.ordinal) == ("orbit.md", 0), question
    [first, *_] = await teambot.retriever.retrieve("근무 규정이 뭐야?", [CHANNEL], k=3)
    assert (first.chunk.source, first.chunk.ordinal) == ("근무-규정.md", 0)
    # A question about part of the document still gets that part.
    [first, *_] = await teambot.retriever.retrieve("How do I deploy Orbit?", [CHANNEL], k=3)
    assert first.chunk.location == "§ Orbit > Deploying Orbit"
    [first, *_] = await teambot.retriever.retrieve("근무 규정상 재택근무는 몇 번 가능해?", [CHANNEL], k=3)
    assert first.chunk.location == "§ 근무 규정 > 재택근무"


def test_window_and_phrase_features() -> None:
    query = lexical_tokens("database port")
    idf = {t: 1.0 for t in query}
    near = lexical_tokens("the database port is 5432")
    far = lexical_tokens("database " + "filler " * 30 + "port")
    assert best_window(query, near, idf, 12) == 1.0
    assert best_window(query, far, idf, 12) == 0.5
    assert phrase_share(query, near) == 1.0
    assert phrase_share(query, far) == 0.0




HANDBOOK = """# Handbook

## On-call

The rotation changes every Monday at 10:00. The primary engineer answers pages within 15 minutes.

## Team sync

Every week the team reviews the releases, and anyone may call a sync when a release slips.
"""

규정 = """# 팀 규정

## 온콜

담당자는 매주 월요일 10시에 바뀝니다. 1차 담당자는 15분 안에 호출에 응답합니다.

## 팀 회의

이번 주 회의에서는 릴리스를 점검하고, 온콜 중 생긴 문제는 다음 주에 다시 봅니다.
"""


def test_a_heading_naming_the_question_outranks_the_same_words_in_passing() -> None:
    terms = lexical_tokens("What are the VPN setup steps?")
    idf = {t: 1.0 for t in terms}
    body = lexical_tokens("The VPN setup steps are on the IT desk's page.")
    chunk_terms = {"guide:0": body, "faq:0": body}
    # Everything else favours the passage that only mentions them: it is first in both searches.
    lexical_hits, dense_hits = [("faq:0", 2.0), ("guide:0", 1.9)], [("faq:0", 0.5), ("guide:0", 0.4)]
    headings = {"guide:0": heading_terms("VPN setup", ""),
                "faq:0": heading_terms("Remote work", "§ Remote work > FAQ")}
    weights = FusionWeights()
    plain = rerank_scores(terms, lexical_hits, dense_hits, chunk_terms, idf, weights, korean=False)
    named = rerank_scores(terms, lexical_hits, dense_hits, chunk_terms, idf, weights, korean=False, headings=headings)
    assert plain["faq:0"][0] > plain["guide:0"][0]
    assert named["guide:0"][0] > named["faq:0"][0]
    assert named["guide:0"][1] == plain["guide:0"][1]  # coverage, the relevance check, ignores headings


def test_heading_terms_are_the_title_and_section_path_not_positions() -> None:
    assert heading_terms("Handbook", "§ Handbook > On-call") == {"handbook", "call"}
    assert heading_terms("contacts", "rows 2-4") == {"contact"}
    assert heading_terms("manual", "p. 3") == {"manual"}


async def test_titles_and_section_headings_reach_the_reranker(teambot: Teambot) -> None:
    """With every other signal switched off, the ranking is the headings' alone: the catalog's
    titles and section paths, English and Korean, are what the reranker sees."""
    await _ingest(teambot, "handbook.md", HANDBOOK)
    await _ingest(teambot, "팀-규정.md", 규정)
    await _ingest(teambot, "on-call-contacts.csv", "team,primary\nPlatform,Ada Kim\n")
    only_headings = FusionWeights(lexical=0, dense=0, dense_for_korean=0, coverage=0, window=0, long_window=0,
                                  phrase=0, similarity=0, document_lead=0, heading=1.0)
    retriever = HybridRetriever(index=teambot.lexical, vectors=teambot.vectors, embedder=teambot.embedder,
                                weights=only_headings)
    ranked = await retriever.retrieve("Who is on call this week?", [CHANNEL], k=2)
    assert {p.chunk.location for p in ranked} == {"§ Handbook > On-call", "rows 2-2"}
    [first, *_] = await retriever.retrieve("이번 주 온콜 담당자는 누구야?", [CHANNEL], k=3)
    assert first.chunk.location == "§ 팀 규정 > 온콜"


def test_a_documents_beginning_ranks_first_for_a_question_about_the_document_as_a_whole() -> None:
    # "What is teambot?" of the README: every section's heading path begins with the title "teambot",
    # and the sections that searches found carry their ranks; the beginning neither search found.
    terms = lexical_tokens("What is teambot?")
    idf = {"teambot": 3.0}
    lexical = [(f"readme:{n}", 5.0 - n) for n in range(1, 4)]
    dense = [(f"readme:{n}", 0.6 - 0.1 * n) for n in range(1, 4)]
    chunk_terms = {chunk: ["teambot", "deploy"] for chunk, _ in lexical} | {"readme:0": ["teambot", "knowledge"]}
    headings = {chunk: frozenset({"teambot"}) for chunk in chunk_terms}
    scores = rerank_scores(terms, lexical, dense, chunk_terms, idf, FusionWeights(), korean=False,
                           leads={"readme:0"}, headings=headings)
    assert max(scores, key=lambda chunk: scores[chunk][0]) == "readme:0"


def test_the_lexical_search_counts_by_rank_not_by_the_size_of_its_score() -> None:
    # Two searches that rank the same chunks in the same order, one with a far larger gap between
    # their BM25 scores: the reranking is the same. The size of a BM25 score says how many rare words
    # a chunk repeats, which the coverage and window features already weigh.
    terms = lexical_tokens("When is the deploy freeze?")
    idf = {t: 2.0 for t in terms}
    chunk_terms = {"a:0": lexical_tokens("The deploy freeze starts on Friday."),
                   "b:0": lexical_tokens("Deploy, deploy, deploy: the freeze of every deploy.")}
    dense = [("a:0", 0.5), ("b:0", 0.4)]
    close = rerank_scores(terms, [("b:0", 2.0), ("a:0", 1.9)], dense, chunk_terms, idf, FusionWeights(), korean=False)
    apart = rerank_scores(terms, [("b:0", 9.0), ("a:0", 1.0)], dense, chunk_terms, idf, FusionWeights(), korean=False)
    assert close == apart
