"""The answerability rules (agent/answerability.py), each on a real case: the demo's questions and
documents, and questions of the SQuAD and KorQuAD dev splits asked of paragraphs that do or do not
answer them."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import pytest

from adapters.fake.adapter import FakeAdapter
from agent import prompts
from agent.answerability import (
    SIMILARITY_CALIBRATIONS,
    AnswerabilityRules,
    AnswerKind,
    SimilarityCalibration,
    TermRarity,
    asked_kind,
    judge,
    kind_strength,
    question_words,
    sentence_similarities,
    term_rarity,
    unknown_names,
)
from agent.embeddings import WordLlamaEmbedder
from agent.records import Chunk, Passage
from agent.text import lexical_tokens
from bot.app import Teambot
from bot.core.values import Scope
from bot.settings import Settings
from tests.support.openai_server import FakeOpenAI

SCOPE = Scope("console", "local", "demo")

HANDBOOK_DEPLOYING = (
    "Production deploys happen from the `main` branch through the release pipeline. Deploys are frozen\n"
    "on Fridays after 15:00 and during public holidays. To roll back, run `make rollback` with the release\n"
    "tag; a rollback does not need approval."
)
HANDBOOK_ON_CALL = (
    "The on-call rotation changes every Monday at 10:00 KST. The primary on-call engineer answers pages\n"
    "within 15 minutes; the secondary takes over if the primary has not acknowledged a page after 15 minutes.\n"
    "Escalate incidents of severity 1 to the engineering manager immediately."
)
README_QUICKSTART = (
    "Ask it about the deploy freeze, who is on call for a team, how to roll back a deploy, or annual leave "
    "in Korean; then follow up in the same thread. Most teams meet it here."
)
ANNUAL_LEAVE = (
    "직원은 매년 15일의 연차 휴가를 받습니다. 휴가 신청은 최소 3일 전에 인사 포털에서 제출해야 하며,\n"
    "5일 이상 연속 휴가는 2주 전에 팀장의 승인을 받아야 합니다."
)
WORKING_FROM_HOME = ("재택근무는 주 2회까지 가능합니다. "
                     "재택근무일에도 오전 10시부터 오후 4시까지는 메신저에 접속해 있어야 합니다.")
# SQuAD v1.1 dev: the paragraphs retrieval found for the questions below.
AGRICOLA = (
    "Early in 1537, Johannes Agricola (1494–1566) – serving at the time as pastor in Luther's birthplace, "
    "Eisleben – preached a sermon in which he claimed that God's gospel, not God's moral law (the Ten "
    "Commandments), revealed God's wrath to Christians. Based on this sermon and others by Agricola, Luther "
    "suspected that Agricola was behind certain anonymous antinomian theses circulating in Wittenberg. "
    "Luther responded to these theses with six series of theses against Agricola and the antinomians, four "
    "of which became the basis for disputations between 1538 and 1540."
)
TEMUJIN = (
    "Temüjin was probably born in 1162 in Delüün Boldog, near Burkhan Khaldun mountain and the Onon and "
    "Kherlen rivers in modern-day northern Mongolia, not far from the current capital Ulaanbaatar."
)
PHLOGISTON = (
    "Highly combustible materials that leave little residue, such as wood or coal, were thought to be made "
    "mostly of phlogiston; whereas non-combustible substances that corrode, such as iron, contained very "
    "little. Air did not play a role in phlogiston theory, nor were any initial quantitative experiments "
    "conducted to test the idea; instead, it was based on observations of what happens when something burns, "
    "that most common objects appear to become lighter and seem to lose something in the process. The fact "
    "that a substance like wood gains overall weight in burning was hidden by the buoyancy of the gaseous "
    "combustion products."
)
# SQuAD v1.1 dev: a paragraph that says "rational" and "form", about a prayer book, not about primes.
WESLEY = (
    "The common pattern comes from John Wesley, who wrote that \"there is no Liturgy in the world, either in "
    "ancient or modern language, which breathes more of a solid, scriptural, rational piety, than the Common "
    "Prayer of the Church of England.\" When the Methodists in America were separated from the Church of England, "
    "John Wesley himself provided a revised version of The Book of Common Prayer called the Sunday Service of the "
    "Methodists in North America. Wesley's Sunday Service has shaped the official liturgies of the Methodists ever "
    "since."
)
# KorQuAD 1.0 dev: the paragraph that answers how many were expelled for the protest at Kyoto University.
KYOTO_PROTEST = (
    "한국 전쟁을 계기로 요시다 시게루 내각은 ‘스탈린주의자들과의 전쟁’을 빌미로 좌익을 탄압했으며 평화주의 운동과 "
    "천황 비판 또한 엄격히 통제했다. 좌익 단체의 풍자잡지 《신소》는 나가사키현 사세보 시의 한 청년이 ‘쇼와 "
    "천황의 사생아’라고 주장한 기사를 전했는데 요시다 총리는 쇼와 천황을 대신해 이들을 모두 고발했다. 이와 같은 "
    "일본 정부의 탄압에도 불구하고, 쇼와 천황은 평화주의 시위에서 자신의 권위에 대한 평화주의자들의 도전에 "
    "직면했다. 요시다 내각이 1951년 9월 8일에 샌프란시스코 강화조약과 미일 안보 조약에 조인한 뒤 같은 해 10월에 "
    "쇼와 천황은 교토 지역을 행차하던 중 교토 대학을 찾았다. 교토 대학에서는 요시다 내각이 조인한 두 조약을 "
    "반대하는 시위를 열고 있었다. 시위에 참여한 학생들은 “인간선언을 한” 천황에게 ‘공개 질의서’를 냈는데 그 "
    "내용은 “우리는 일본이 단독 강화와 재무장을 하려는 과정에서, (쇼와) 당신이 예전과 같은 전쟁 이데올로기의 지주 "
    "구실을 하고 있다고 본다”는 것이었다. 쇼와 천황이 교토 대학에 도착했을 때 2,000여명의 학생들은 천황을 "
    "칭송하는 기미가요 대신 《평화의 노래》를 불렀고, 신문은 이것을 ‘불경한 행동’이라고 맹비난했다. 이 항의 "
    "집회를 주도한 8명은 제적을 당했으며 시위에 참여한 학생들은 ‘멍청한 빨갱이’라는 비난에 시달렸다. 하지만 쇼와 "
    "천황에 대한 반감이나 무관심을 보이면서 학생들의 평화주의적 시위를 옹호하는 사람들도 많았다."
)
# KorQuAD 1.0 dev: a paragraph about another politician's marriage, asked about Richard Nixon's.
HAN_MYEONG_SOOK = (
    "한명숙은 이화여자대학교 불문학과 재학 중에 남편 박성준을 만나 1967년 결혼하였으나, 6개월만에 박성준이 "
    "통일혁명당 사건 당시 자신의 처 한명숙을 포섭하는 등의 혐의로 체포되어 15년형을 선고받았다. 이후 1981년에 "
    "석방될때까지 13년간 남편을 옥바라지 하였다."
)


def bm25_idf(frequency: int, chunks: int) -> float:
    """IDF as the knowledge index computes it (BM25, with a floor of 1000 chunks on the corpus size)."""
    corpus = max(chunks, 1000)
    return math.log(1 + (corpus - frequency + 0.5) / (frequency + 0.5))


class CorpusIdf:
    """An index's `idf` over a few texts: a channel with a handful of documents, like the demo's."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.chunks = [set(lexical_tokens(text)) for text in texts]

    async def idf(self, terms: Iterable[str], scopes: Sequence[Scope]) -> dict[str, float]:
        return {t: bm25_idf(sum(t in chunk for chunk in self.chunks), len(self.chunks)) for t in terms}


class MeasuredIdf:
    """An index's `idf` from document frequencies measured in the ingested half of a dev split
    (`python -m bench.answerability`, seed 6); terms not listed are in no chunk."""

    def __init__(self, frequencies: dict[str, int], chunks: int) -> None:
        self.frequencies = frequencies
        self.chunks = chunks

    async def idf(self, terms: Iterable[str], scopes: Sequence[Scope]) -> dict[str, float]:
        return {t: bm25_idf(self.frequencies.get(t, 0), self.chunks) for t in terms}


def passage(text: str, *, source: str = "doc.md", title: str = "", location: str = "", ordinal: int = 0,
            coverage: float = 1.0) -> Passage:
    chunk = Chunk(id=f"{source}:{ordinal}", document_id=source, ordinal=ordinal, text=text, source=source,
                  title=title, location=location, scope=SCOPE)
    return Passage(chunk=chunk, score=1.0, coverage=coverage)


async def rarity_in(question: str, corpus: Iterable[str]) -> TermRarity:
    return await term_rarity(CorpusIdf(corpus), lexical_tokens(question), [SCOPE])


async def measured_rarity(question: str, frequencies: dict[str, int], chunks: int) -> TermRarity:
    return await term_rarity(MeasuredIdf(frequencies, chunks), lexical_tokens(question), [SCOPE])


@pytest.mark.parametrize(("question", "kind"), [
    ("When is the deploy freeze?", AnswerKind.TIME),
    ("In what year did Fresno get its first pedestrian mall?", AnswerKind.TIME),
    ("How many vacation days do I get?", AnswerKind.NUMBER),
    ("How long is production database access granted?", AnswerKind.NUMBER),
    ("Who is on call for the Platform team?", AnswerKind.PERSON),
    ("Which company filed a complaint with the FCC in 1934?", AnswerKind.PERSON),
    ("장애가 해결되면 언제까지 회고 문서를 작성하나요?", AnswerKind.TIME),
    ("연차 휴가는 며칠인가요?", AnswerKind.NUMBER),
    ("재택근무는 일주일에 몇 번 가능한가요?", AnswerKind.NUMBER),
    ("What is teambot?", None),
    ("How do I roll back a deploy?", None),
    ("천안함 서한을 안전보장이사회에 보낸 것은 누구인가?", None),  # no capitals to tell a Korean name by
])
def test_the_kind_of_answer_a_question_asks_for(question: str, kind: AnswerKind | None) -> None:
    assert asked_kind(question) is kind


def test_a_sentence_holds_an_answer_of_the_kind_asked_or_not() -> None:
    assert kind_strength(AnswerKind.TIME, "Deploys are frozen on Fridays after 15:00 and during public holidays.") == 2
    assert kind_strength(AnswerKind.TIME, "Most teams meet it here.") == 0
    assert kind_strength(AnswerKind.NUMBER, "직원은 매년 15일의 연차 휴가를 받습니다.") == 2
    assert kind_strength(AnswerKind.NUMBER, "Parental leave lasts sixteen weeks at full pay.") == 2
    assert kind_strength(AnswerKind.NUMBER, "Request production database access through the access portal.") == 0

    who = "Who is on call for the Platform team?"
    assert kind_strength(AnswerKind.PERSON, "team: Platform; primary: Ada Kim; secondary: Linus Park",
                         question=who) == 2
    # A role answers "who" less clearly than a name; the team the question names answers it not at all.
    assert kind_strength(AnswerKind.PERSON, "Escalate incidents of severity 1 to the engineering manager.",
                         question=who) == 1
    assert kind_strength(AnswerKind.PERSON, "The Platform team owns the release pipeline.", question=who) == 0
    assert kind_strength(AnswerKind.PERSON, "The on-call rotation changes every Monday at 10:00 KST.",
                         question=who) == 0


def test_the_counter_after_how_many_is_part_of_the_question_word() -> None:
    # "번" (times) goes with 몇 as "many" goes with "how": the answer says "주 2회".
    assert question_words("재택근무는 일주일에 몇 번 가능한가요?") == [
        ("재택", "택근", "근무"), ("일주", "주일"), ("가능", "능한")]
    assert question_words("제적당한 사람은 몇명인가?") == [("제적", "적당", "당한"), ("사람",)]


async def test_terms_no_visible_chunk_contains_are_known_as_such() -> None:
    rarity = await rarity_in("What modern-day country was Tesla born in?", [TEMUJIN, AGRICOLA])
    assert rarity.unknown == {"country", "tesla"}  # "modern-day" and "born" are in the first
    assert unknown_names("What modern-day country was Tesla born in?", rarity) == ["Tesla"]
    # The first word of a question is capitalised whatever it is.
    assert unknown_names("Tesla was born where?", rarity) == []


async def test_a_name_the_documents_never_mention_means_they_do_not_answer() -> None:
    # SQuAD dev, an article that was not ingested: the paragraph shares "born" and "modern-day".
    question = "What modern-day country was Tesla born in?"
    rarity = await measured_rarity(question, {"modern": 60, "day": 91, "country": 75, "born": 20}, 1226)
    judgement = judge(question, [passage(TEMUJIN)], rarity=rarity, min_relevance=0.3)
    assert not judgement.answers and judgement.reason == "unknown_name"


async def test_a_passage_holding_the_questions_rare_words_together_answers() -> None:
    question = "How did Luther respond to Agricola?"
    rarity = await measured_rarity(question, {"luther": 105, "respond": 7, "agricola": 2}, 1226)
    judgement = judge(question, [passage(AGRICOLA)], rarity=rarity, min_relevance=0.3)
    assert judgement.answers and judgement.reason == "answers"


async def test_a_passage_sharing_only_some_words_far_apart_does_not_answer() -> None:
    # SQuAD dev, out of corpus: "coal" and "weight" are there, two sentences apart; "bushel" and
    # "pounds" are not. Retrieval found it; it used to be quoted as the answer.
    question = "What is the weight of a bushel of coal in pounds?"
    rarity = await measured_rarity(question, {"weight": 8, "coal": 4, "pound": 1}, 1226)
    judgement = judge(question, [passage(PHLOGISTON, coverage=0.42)], rarity=rarity, min_relevance=0.3)
    assert not judgement.answers and judgement.reason == "too_little_evidence"


async def test_a_korean_question_about_someone_the_paragraph_does_not_name_is_declined() -> None:
    # KorQuAD dev, out of corpus: a marriage and its year, but not Richard Nixon's.
    question = "리처드 닉슨은 언제 결혼하였는가?"
    rarity = await measured_rarity(question, {"리처": 2, "결혼": 16, "혼하": 4, "하였": 261, "였는": 17}, 1000)
    judgement = judge(question, [passage(HAN_MYEONG_SOOK, coverage=0.4)], rarity=rarity, min_relevance=0.3)
    assert judgement.kind is AnswerKind.TIME
    assert not judgement.answers and judgement.reason == "too_little_evidence"


async def test_the_demo_answers_what_its_documents_say_in_either_language() -> None:
    corpus = [HANDBOOK_DEPLOYING, HANDBOOK_ON_CALL, ANNUAL_LEAVE, WORKING_FROM_HOME]
    for question, text, title, location in [
        ("When is the deploy freeze?", HANDBOOK_DEPLOYING, "Acme Platform Team Handbook", "§ Deploying"),
        ("연차 휴가는 며칠인가요?", ANNUAL_LEAVE, "근무 규정", "§ 근무 규정 > 연차 휴가"),
        ("재택근무는 일주일에 몇 번 가능한가요?", WORKING_FROM_HOME, "근무 규정", "§ 근무 규정 > 재택근무"),
    ]:
        found = passage(text, title=title, location=location)
        judgement = judge(question, [found], rarity=await rarity_in(question, corpus), min_relevance=0.3)
        assert judgement.answers, (question, judgement.reason, judgement.evidence)


async def test_a_passage_without_an_answer_of_the_kind_asked_does_not_answer() -> None:
    # The README used to answer "When is the all-hands meeting?" with "Most teams meet it here."
    question = "When is the all-hands meeting?"
    judgement = judge(question, [passage(README_QUICKSTART)], rarity=await rarity_in(question, [README_QUICKSTART]),
                      min_relevance=0.3)
    assert not judgement.answers

    question = "When is the deploy freeze?"
    judgement = judge(question, [passage(README_QUICKSTART)], rarity=await rarity_in(question, [README_QUICKSTART]),
                      min_relevance=0.3)
    assert not judgement.answers and judgement.reason == "no_answer_of_kind"


async def test_a_korean_question_the_documents_do_not_cover_is_declined() -> None:
    question = "육아 휴직은 며칠인가요?"  # parental leave: the work rules speak of annual leave only
    judgement = judge(question, [passage(ANNUAL_LEAVE, coverage=0.5)],
                      rarity=await rarity_in(question, [ANNUAL_LEAVE, WORKING_FROM_HOME]), min_relevance=0.3)
    assert not judgement.answers


async def test_only_the_passages_that_answer_are_kept_best_first() -> None:
    question = "When is the deploy freeze?"
    corpus = [HANDBOOK_DEPLOYING, HANDBOOK_ON_CALL, README_QUICKSTART]
    readme = passage(README_QUICKSTART, source="README.md")
    handbook = passage(HANDBOOK_DEPLOYING, source="team-handbook.md", title="Acme Platform Team Handbook",
                       location="§ Deploying")
    judgement = judge(question, [readme, handbook], rarity=await rarity_in(question, corpus), min_relevance=0.3)
    assert [p.chunk.source for p in judgement.passages] == ["team-handbook.md"]


HANDBOOK = (
    "# Acme Platform Team Handbook\n\n## Deploying\n\n" + HANDBOOK_DEPLOYING
    + "\n\n## On-call\n\n" + HANDBOOK_ON_CALL + "\n"
).encode()
QUICKSTART = ("# Quickstart\n\n" + README_QUICKSTART + "\n").encode()


async def test_a_model_is_given_only_the_passages_that_answer_and_none_when_nothing_does(
    teambot_llm: Teambot, openai_server: FakeOpenAI,
) -> None:
    fake = FakeAdapter(teambot_llm)
    await fake.upload("team-handbook.md", HANDBOOK)
    await fake.upload("README.md", QUICKSTART)
    openai_server.reply = "Deploys are frozen on Fridays after 15:00 [1]."

    answered = (await fake.say("When is the deploy freeze?")).reply
    assert answered is not None and answered.answered and answered.mode == "llm"
    [request] = openai_server.chat_requests()
    sources = request["body"]["messages"][0]["content"]
    assert "Deploys are frozen" in sources and "Ask it about the deploy freeze" not in sources
    assert [c.source for c in answered.consulted] == ["team-handbook.md"]

    openai_server.requests.clear()
    declined = (await fake.say("When is the all-hands meeting?", thread="t2")).reply
    assert declined is not None and not declined.answered and declined.text == prompts.DONT_KNOW
    assert openai_server.chat_requests() == [], "the model is not asked when the documents do not answer"


# --- rule 2: how like the question the passage's closest sentence reads ------------------------

@pytest.fixture(scope="module")
def wordllama() -> WordLlamaEmbedder:
    return WordLlamaEmbedder()


def test_the_bundled_model_is_calibrated_and_other_models_are_not() -> None:
    rules = AnswerabilityRules()
    assert rules.calibration("wordllama-l2-256") is SIMILARITY_CALIBRATIONS["wordllama-l2-256"]
    assert rules.calibration("openai-text-embedding-3-small") is None
    # A configured neutral point calibrates the model in use, for every language.
    configured = rules.calibrated("openai-text-embedding-3-small", 0.3)
    assert configured.calibration("openai-text-embedding-3-small") == SimilarityCalibration(neutral=0.3)
    assert rules.calibrated("openai-text-embedding-3-small", None) is rules


def test_similarity_above_the_neutral_point_adds_evidence_and_below_it_takes_some_away() -> None:
    calibration = SimilarityCalibration(neutral=0.4, neutral_korean=0.86, weight=0.75)
    assert calibration.evidence(0.6, korean=False) == pytest.approx(0.15)
    assert calibration.evidence(0.2, korean=False) == pytest.approx(-0.15)
    # WordLlama's vocabulary is English: Korean sentences all read alike to it, hence a higher neutral point.
    assert calibration.evidence(0.9, korean=True) == pytest.approx(0.03)
    assert SimilarityCalibration(neutral=0.4).evidence(0.9, korean=True) == pytest.approx(0.375)


class RecordingEmbedder:
    """Vectors from a table (unknown texts are the zero vector); remembers what it was asked."""

    name = "recording"

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors
        self.asked: list[str] = []

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.asked.extend(texts)
        return [self.vectors.get(t, [0.0, 0.0]) for t in texts]

    async def embed_query(self, text: str) -> list[float]:
        self.asked.append(text)
        return self.vectors.get(text, [0.0, 0.0])


async def test_each_passage_counts_its_sentence_most_like_the_question_read_under_its_heading() -> None:
    question = "How do permissions work?"
    embedder = RecordingEmbedder({
        question: [1.0, 0.0],
        "Permissions: Admins may add documents everywhere.": [3.0, 4.0],  # cosine 0.6, whatever its length
        "Permissions: Everyone else adds them in their own channel.": [0.0, 1.0],
        "The bot answers in threads.": [-1.0, 0.0],
    })
    permissions = passage("Admins may add documents everywhere. Everyone else adds them in their own channel.",
                          source="handbook.md", location="§ Permissions")
    unrelated = passage("The bot answers in threads. It has no heading.", source="readme.md")

    similarity = await sentence_similarities(embedder, question, [permissions, unrelated])

    assert similarity == {permissions.chunk.id: pytest.approx(0.6), unrelated.chunk.id: pytest.approx(0.0)}
    assert "Permissions: Admins may add documents everywhere." in embedder.asked
    assert await sentence_similarities(embedder, question, []) == {}


async def test_a_passage_that_shares_the_words_but_reads_unlike_the_question_does_not_answer(
    wordllama: WordLlamaEmbedder,
) -> None:
    # SQuAD dev, out of corpus: "rational" and "form" are there, in a sentence about a prayer book.
    # The words alone used to pass the bar; the sentence reads nothing like a question about primes.
    question = "Of what form are rational primes?"
    rarity = await measured_rarity(question, {"form": 101, "rational": 1, "prim": 1}, 1226)
    found = passage(WESLEY, coverage=0.42)
    assert judge(question, [found], rarity=rarity, min_relevance=0.3).answers

    similarity = await sentence_similarities(wordllama, question, [found])
    judgement = judge(question, [found], rarity=rarity, min_relevance=0.3, similarity=similarity,
                      calibration=SIMILARITY_CALIBRATIONS[wordllama.name])
    assert not judgement.answers and judgement.reason == "too_little_evidence"
    assert judgement.evidence[0].similarity == pytest.approx(similarity[found.chunk.id])


async def test_a_sentence_that_reads_like_the_question_answers_where_the_words_fall_just_short(
    wordllama: WordLlamaEmbedder,
) -> None:
    # KorQuAD dev, in corpus: "이 항의 집회를 주도한 8명은 제적을 당했으며" answers it; the question's other
    # words ("사람", "연") are not in the paragraph, and the words alone fell just short of the bar.
    question = "교토 대학에서 항의 집회를 연 것으로 제적당한 사람은 몇 명인가?"
    frequencies = {"교토": 4, "대학": 51, "항의": 13, "집회": 7, "연": 2, "것으": 82, "제적": 14, "당한": 21,
                   "사람": 80, "명인": 5}
    rarity = await measured_rarity(question, frequencies, 1000)
    found = passage(KYOTO_PROTEST, coverage=0.49)
    assert judge(question, [found], rarity=rarity, min_relevance=0.3).reason == "too_little_evidence"

    similarity = await sentence_similarities(wordllama, question, [found])
    judgement = judge(question, [found], rarity=rarity, min_relevance=0.3, similarity=similarity,
                      calibration=SIMILARITY_CALIBRATIONS[wordllama.name])
    assert judgement.answers, judgement.evidence


async def test_an_embedding_model_without_a_calibration_is_not_asked_about_sentences(
    make_settings: Callable[..., Settings], openai_server: FakeOpenAI,
) -> None:
    """Its similarities have an unknown scale: it is asked about the question for retrieval only. Given a
    neutral point (TEAMBOT_ANSWER_SIMILARITY_NEUTRAL), it is asked about the passages' sentences too."""
    sentence = "Deploys are frozen"
    for neutral, sentences_embedded in ((None, False), (0.0, True)):
        settings = make_settings(openai_base_url=openai_server.base_url, openai_api_key="sk-test",
                                 chat_model="fake-model", embedding_model="fake-embedder", model_max_retries=0,
                                 answer_similarity_neutral=neutral)
        async with Teambot(settings) as bot:
            fake = FakeAdapter(bot)
            await fake.upload("team-handbook.md", HANDBOOK)
            openai_server.requests.clear()
            openai_server.reply = "Deploys are frozen on Fridays after 15:00 [1]."
            reply = (await fake.say("When is the deploy freeze?")).reply
            assert reply is not None and reply.answered
            embedded = [text for request in openai_server.requests if request["path"].endswith("/embeddings")
                        for text in _inputs(request["body"])]
            assert any(sentence in text for text in embedded) is sentences_embedded, embedded


def _inputs(body: dict[str, object]) -> list[str]:
    value = body.get("input")
    return [value] if isinstance(value, str) else [str(v) for v in value] if isinstance(value, list) else []


# --- rule 5: a number the Korean question names ------------------------------------------------

async def test_a_korean_question_about_a_year_the_documents_do_not_mention_is_declined() -> None:
    # The work rules give 15 days "매년" (every year); they say nothing of 2019 in particular. A Korean
    # number carries its counter ("2019년"), which alone matches any passage with a year in it.
    corpus = [HANDBOOK_DEPLOYING, HANDBOOK_ON_CALL, ANNUAL_LEAVE, WORKING_FROM_HOME]
    found = passage(ANNUAL_LEAVE, title="근무 규정", location="§ 근무 규정 > 연차 휴가")
    question = "2019년 연차 휴가는 며칠이었나요?"
    judgement = judge(question, [found], rarity=await rarity_in(question, corpus), min_relevance=0.3)
    assert not judgement.answers and judgement.reason == "number_not_found"

    question = "연차 휴가는 15일인가요?"
    assert judge(question, [found], rarity=await rarity_in(question, corpus), min_relevance=0.3).answers
