"""Language-aware text helpers shared by the lexical index, relevance checks and extraction.

Korean is agglutinative: a noun carries its particle ("회의록을", "회의록에서"),
so whole-word matching misses most hits. Overlapping character bigrams of
every Hangul run match regardless of the attached particle or ending, need no
dictionary, and retrieve Korean as well as morphological analysis does.
Latin-script words are lower-cased, stop words dropped and lightly stemmed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

TOKENIZER_VERSION = 5
"""Which rules `lexical_tokens` follows. Stored index terms carry it: bump it whenever a text would
index as other terms, and opening a knowledge index recomputes the terms it stored before.
3: Latin accents folded ("Möngke" indexes as "mongke"). 4: invisible characters inside a word no
longer split it ("de\u00adploy" indexes as "deploy")."""

_HANGUL = "\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f"
_CJK = "\u3040-\u30ff\u4e00-\u9fff"
_RUN = re.compile(rf"[{_HANGUL}]+|[{_CJK}]+|[^\W_{_HANGUL}{_CJK}]+", re.UNICODE)
_HANGUL_RUN = re.compile(rf"^[{_HANGUL}{_CJK}]+$")

STOP_WORDS = frozenset(
    """a an the and or but if then else of to in on at by for with from into onto about as is are was were be been
    being am do does did doing have has had having i me my we our you your he him his she her it its they them their
    this that these those what which who whom whose when where why how there here not no nor so than too very can
    will would shall should may might must could s t just also any all each both few more most other some such own
    same only over under again further once up down out off between through during before after above below while
    per via vs etc""".split()
)

# Particles and endings that carry no content when a Hangul run is only one syllable long,
# and the one-syllable question words ("why", "how many").
_KOREAN_SINGLE_STOP = frozenset("은는이가을를의에와과도로서며고다요왜몇")

# Korean question words, the counterpart of "what", "who", "when" and "where" among the English stop
# words: a question asks with them, the answer does not contain them. A word is dropped when its
# stem starts with one ("어디로", "누구였는가", "무엇이든"): words so formed are nearly all questions
# or function words ("언제나", "누구나", "얼마나"). One-syllable ones ("왜", "몇") only alone: "왜곡".
_KOREAN_QUESTION_WORDS = (
    "무엇", "누구", "누가", "언제", "어디", "어딘", "얼마", "며칠", "어떤", "어떻", "어느", "무슨", "뭐",
)

# Trailing particles and verb endings, longest first. One is stripped from a Hangul run
# when at least two syllables remain, so "휴가는", "휴가를" and "휴가" all index as "휴가"
# and question endings ("며칠인가요") do not turn into bigrams no document contains.
_KOREAN_SUFFIXES = tuple(
    sorted(
        """입니다 습니다 합니다 됩니다 인가요 인가 인지 이다 이며 이고 에서는 에서도 에서 에게서 에게 한테 으로서
        으로써 으로 로서 로써 부터 까지 마다 처럼 보다 이라고 이라는 라고 라는 하는지 되는지 한지 하는 하고 하여
        해서 해야 했다 한다
        하다 된다 되는 되어 나요 까요 세요 가요 이에요 예요 에요 이야 이죠 이냐 일까요 일까 인데요 해요
        은 는 이 가 을 를 의 에 와 과 도 만 로 요 다""".split(),
        key=len,
        reverse=True,
    )
)


_KOREAN_SUFFIX_SET = frozenset(_KOREAN_SUFFIXES)
_KOREAN_SUFFIX_LENGTHS = sorted({len(s) for s in _KOREAN_SUFFIXES}, reverse=True)


@lru_cache(maxsize=65536)
def _korean_stem(run: str) -> str:
    # Longest suffix first, as listed: one set lookup per suffix length, not one `endswith` per
    # suffix (this runs for every Hangul word of every document ingested).
    for length in _KOREAN_SUFFIX_LENGTHS:
        if len(run) - length >= 2 and run[-length:] in _KOREAN_SUFFIX_SET:
            return run[:-length]
    return run


# Unicode's Default_Ignorable_Code_Point characters (DerivedCoreProperties.txt): invisible, and
# inside a word they split it where a reader sees one word. Word processors put soft hyphens
# (U+00AD) inside words, pasted web text zero-width spaces and joiners, editors a BOM. ICU's
# NFKC_Casefold drops them the same way; Slack and Discord threads are read without them too
# (`bot.threads.clean_message_text`).
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
# Latin (and Greek) letters with accents, or accents alone: only text holding one is decomposed to
# drop them, and only the accents on a Latin or Greek letter go. Cyrillic's й keeps its breve, kana
# its dakuten, and Hangul decomposes to jamo that the recomposition restores.
_ACCENTED = re.compile("[\u00c0-\u024f\u1e00-\u1eff\u0300-\u036f\u0386-\u03ce]")
_ACCENTS = re.compile("(?<=[a-z\u03b1-\u03c9])[\u0300-\u036f]+")
# Letters that are not a base letter plus an accent, folded as they are usually typed without them.
_PLAIN_LATIN = str.maketrans({"æ": "ae", "ø": "o", "œ": "oe", "ð": "d", "đ": "d", "ħ": "h", "ł": "l",
                              "þ": "th", "ı": "i"})


MAX_MARK_RUN = 30
"""Combining marks kept in a row (Unicode's stream-safe limit, UAX #15): no script stacks more."""
_LAST_MARK = 0x1F000
"""Past the last code point with a combining class (U+1E94A in Unicode 14-15)."""
_LEADING_NON_STARTERS = "\u0f73\u0f75\u0f81\uff9e\uff9f"
"""Of combining class 0 themselves, but decomposed (NFKD) into marks that canonical reordering moves."""


def _mark_class() -> str:
    """A regex class (its inside) of the characters canonical reordering may move past each other."""
    ranges: list[str] = []
    start = previous = -2
    for code in range(0x300, _LAST_MARK):
        if not unicodedata.combining(chr(code)):
            continue
        if code != previous + 1:
            if start >= 0:
                ranges.append(f"{chr(start)}-{chr(previous)}")
            start = code
        previous = code
    ranges.append(f"{chr(start)}-{chr(previous)}")
    return "".join(ranges) + _LEADING_NON_STARTERS


_MARK = _mark_class()
# Normalization sorts a run of marks by insertion (CPython's unicodedata): quadratic in its length and holding
# the GIL, so 200,000 alternating accents took 30 s to tokenize (0.3 s for a chunk of 20,000).
_MARK_RUN = re.compile(f"([{_MARK}]{{{MAX_MARK_RUN}}})[{_MARK}]+")


def canonical(text: str) -> str:
    """`text` as its words are read: NFKC (full-width forms and ligatures as their plain letters) and
    without invisible characters ("de\u200bploy" is "deploy"). Case and accents are kept: a
    question's capitals tell names (`agent.answerability`)."""
    if text.isascii():
        return text
    text = _INVISIBLE.sub("", text)
    if not unicodedata.is_normalized("NFKC", text):  # only there may marks pile up
        # Marks past the 30th in a row go (no text that people write has so many): they split words like
        # any mark, and accents on a Latin letter go anyway, so no term changes.
        text = _MARK_RUN.sub(r"\1", text)
    return unicodedata.normalize("NFKC", text)


def normalize(text: str) -> str:
    """`canonical` and case folding (full-width forms, ligatures and case fold together), then Latin
    accents dropped: people type "Mongke" and "Gospic" for a document's "Möngke" and "Gospić", and the
    reverse. The one form both documents and questions are tokenized from."""
    text = canonical(text).casefold()
    if text.isascii() or not _ACCENTED.search(text):
        return text
    text = _ACCENTS.sub("", unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFC", text).translate(_PLAIN_LATIN)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    # A deliberately light stemmer: the same rules run on documents and
    # queries, so consistency matters more than linguistic accuracy.
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, replacement, min_len in (
        ("ies", "y", 5),
        ("sses", "ss", 5),
        ("ing", "", 6),
        ("edly", "", 7),
        ("ed", "", 5),
        ("es", "", 5),
        ("s", "", 4),
    ):
        if word.endswith(suffix) and len(word) >= min_len and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + replacement
    return word


def lexical_tokens(text: str) -> list[str]:
    """Index terms of `text`: stemmed words for Latin script, character bigrams for Hangul/CJK."""
    tokens: list[str] = []
    for run in _RUN.findall(normalize(text)):
        if _HANGUL_RUN.match(run):
            run = _korean_stem(run)
            if run.startswith(_KOREAN_QUESTION_WORDS):
                continue
            if len(run) == 1:
                if run not in _KOREAN_SINGLE_STOP:
                    tokens.append(run)
            else:
                tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
        elif run not in STOP_WORDS:
            tokens.append(_stem(run))
    return tokens


# Korean words that carry a question's grammar, not its content: "할 수 있나요" (can I), "해야
# 하나요" (must I), "그럼" (then). The index keeps them (a document's "할 수 있다" is text like any
# other), but a question's search and its answerability weigh them no more than English stop words:
# in a small knowledge base that never writes "수", they would count as rare words it lacks.
KOREAN_FUNCTION_WORDS = frozenset(
    "할 수 있 있나 있어 있을 있는 있다 없 없나 없어 없을 해야 하나 하는 하면 해 하 했 되 되나 돼 될 된 되는 "
    "인가 건가 거 것 건 게 좀 혹시 그럼 그러면 그런데 그리고 그래서 그냥 제가 저는 저 저희 우리 내가 나 너".split()
)
# A polite or indirect question's manners, as people type them: "…며칠인지 궁금합니다" (I wonder),
# "…알려 주세요" (please tell me), "…알고 싶어요" (I'd like to know), "…여쭤봐도 될까요?" (may I
# ask), "…할 수 있는지" (whether I can). Listed as typed; they are recognised by the terms
# `lexical_tokens` makes of them, so each ending the tokenizer strips is covered once.
_KOREAN_REQUEST_FORMS = """
    궁금 궁금합니다 궁금해요 궁금한데요 궁금해서요 궁금하네요 궁금해 궁금함
    알려 알려줘 알려줘요 알려주세요 알려주실 알려주실래요 알려주시겠어요 알려주시면 알려주십시오
    알려주시겠습니까 알려줄래
    가르쳐 가르쳐줘 가르쳐주세요 가르쳐주실 가르쳐주시겠어요 말해 말해줘 말해주세요 말씀해주세요 말씀해 주실
    설명해 설명해줘 설명해주세요 설명해주실 설명해주시겠어요
    주세요 주실 주실래요 주시겠어요 주시면 주십시오 주시겠습니까 줘 줘요 줄래 줄래요
    부탁 부탁드립니다 부탁드려요 부탁해요
    알고 싶어 싶어요 싶습니다 싶은데요 싶은데
    여쭤 여쭤봐도 여쭤봅니다 여쭤볼게요 여쭙니다 여쭈어
    될까 될까요 되나요 될지 되는지 되죠 돼요 있는지 없는지 있을까 있을까요 없을까요 있을지 있나요 있습니까 있어요
    """.split()


# English courtesy words (as `lexical_tokens` stems them), the counterpart of 감사합니다 and 좀: no
# document says "please" or "thanks", so in a question they weighed as its rarest words and
# "When is the deploy freeze, please?" was declined where the plain question was answered.
ENGLISH_COURTESY_WORDS = frozenset("please pls plz thank thx ty hi hello hey ok okay".split())


def is_function_word(terms: Sequence[str]) -> bool:
    """True when one word's index terms (`lexical_tokens` of the word) are a Korean function word, a
    Korean request form or an English courtesy word: a question's grammar or manners, not its content."""
    if len(terms) == 1 and (terms[0] in KOREAN_FUNCTION_WORDS or terms[0] in ENGLISH_COURTESY_WORDS):
        return True
    return tuple(terms) in _KOREAN_REQUEST_TERMS


def query_terms(text: str) -> list[str]:
    """A question's search terms: its index terms without Korean function words."""
    terms: list[str] = []
    for word in text.split():
        tokens = lexical_tokens(word)
        if not is_function_word(tokens):
            terms.extend(tokens)
    return terms


_SENTENCE_END = re.compile(
    r"(?<=[.!?。！？])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9가-힣\u4e00-\u9fff])"
    r"|(?<=[다요죠음함됨임까])\.\s*"
    r"|\n{2,}"
    # `[ \t]*`, not `\s*`: a lookahead that may run over newlines rescans a run of blank lines
    # from every newline in it (quadratic); "\n\n- item" is split by the rule above anyway.
    r"|\n(?=[ \t]*(?:[-*•]|\d+[.)])\s)"
)
# Longer than the longest abbreviation plus the word boundary before it and the spaces after.
_ABBREVIATION_WINDOW = 64
_ABBREVIATIONS = re.compile(r"\b(?:e\.g|i\.e|etc|vs|mr|mrs|dr|st|no|fig|approx|inc|ltd|jr|sr)\.$", re.IGNORECASE)


_HEADING_MAX_CHARS = 60
_HEADING_MAX_WORDS = 8
_HEADING_NOT_LAST = tuple(".,;:!?。！？、，)]-—–\"'”’…")
_BLOCK_END = tuple(".!?。！？:")


def _heading_like(line: str) -> bool:
    """A short line that starts like a title and does not end like a sentence or a clause."""
    line = line.strip()
    return (
        0 < len(line) <= _HEADING_MAX_CHARS
        and len(line.split()) <= _HEADING_MAX_WORDS
        and not line.endswith(_HEADING_NOT_LAST)
        and (line[0].isupper() or line[0].isdigit() or bool(_HANGUL_RUN.match(line[0])))
        and not re.match(r"(?:[-*•]|\d+[.)])\s", line)
    )


def _starts_a_sentence(line: str) -> bool:
    line = line.lstrip()
    return bool(line) and (line[0].isupper() or line[0].isdigit() or bool(_HANGUL_RUN.match(line[0]))
                           or line[0] in "\"'“‘([")


def _heading_blocks(text: str) -> list[str]:
    """`text` cut after each heading-like line that stands alone: at the start, after a blank line or a
    finished sentence, and followed by a line that starts a sentence. PDF text has a page's heading on
    its own line directly above the first sentence ("Travel Policy\nMeals are covered..."); a line of
    prose wrapped in the middle of a sentence does not end a finished one before it, or runs on in
    lower case, or is long."""
    if "\n" not in text:
        return [text]
    lines = text.split("\n")
    blocks: list[str] = []
    current: list[str] = []
    previous = ""
    for index, line in enumerate(lines):
        current.append(line)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        stands_alone = not previous.strip() or previous.rstrip().endswith(_BLOCK_END)
        if stands_alone and _heading_like(line) and _starts_a_sentence(following):
            blocks.append("\n".join(current))
            current = []
        previous = line
    if current:
        blocks.append("\n".join(current))
    return blocks


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences (English and Korean), keeping list items and headings apart."""
    if "\n" in text:
        return [sentence for block in _heading_blocks(text) for sentence in _split_block(block)]
    return _split_block(text)


# Chat is often written in lower case ("deploys are frozen. what about leave?"), a formal Korean
# statement often ends in "니다" without a full stop, and a question is often joined to what comes
# before it by a semicolon or a dash ("… after 15:00 - what is …?").
_CHAT_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[a-z])|(?<=니다)\s+(?=\S)")
_QUESTION_CLAUSE = re.compile(
    r"\s*(?:;|\s[-–—]+)\s+(?=(?:what|when|who|whom|whose|where|which|why|how|is|are|was|were|do|does|did|can|could"
    r"|should|will|would)\b)",
    re.IGNORECASE,
)
# A line of a message ends a sentence after a blank line or sentence punctuation, or before a line that
# starts as a new one does (a capital, a digit, markup): pasted log lines, a question under a pasted
# paragraph. A line that runs on in lower case or in Korean is a sentence wrapped by hand.
_LINE_ENDS_SENTENCE = tuple(".!?:;。！？")
_LINE_STARTS_SENTENCE = re.compile(r"[A-Z0-9>#*`•-]")


def _message_lines(text: str) -> list[str]:
    lines: list[list[str]] = []
    previous = ""
    for line in text.split("\n"):
        line = " ".join(line.split())
        if lines and previous and not previous.endswith(_LINE_ENDS_SENTENCE) and not _LINE_STARTS_SENTENCE.match(line):
            lines[-1].append(line)
        elif line:
            lines.append([line])
        previous = line
    return [" ".join(parts) for parts in lines]


def split_message(text: str) -> list[str]:
    """A chat message's sentences: `split_sentences` of each of its lines (a line that runs on in lower
    case or in Korean continues the one before), cut also where a sentence ends before a word in lower
    case or after a Korean "니다", and a question apart from a clause joined to it by a semicolon or a dash."""
    pieces: list[str] = []
    for line in _message_lines(text):
        for sentence in split_sentences(line):
            start = 0
            for match in _CHAT_SENTENCE_END.finditer(sentence):
                if _ABBREVIATIONS.search(sentence[max(start, match.start() - _ABBREVIATION_WINDOW) : match.start()]):
                    continue  # "e.g. the ..." goes on
                pieces.append(sentence[start : match.start()])
                start = match.end()
            pieces.append(sentence[start:])
    return [clause.strip() for piece in pieces for clause in _QUESTION_CLAUSE.split(piece) if clause.strip()]


def _split_block(text: str) -> list[str]:
    pieces: list[str] = []
    start = 0  # where the sentence being built starts; text is sliced once per sentence (linear)
    for match in _SENTENCE_END.finditer(text):
        # Only the end of the candidate can hold an abbreviation: look at a bounded tail, so a
        # run of "e.g. e.g. ..." does not rescan an ever longer candidate.
        if _ABBREVIATIONS.search(text[max(start, match.end() - _ABBREVIATION_WINDOW) : match.end()].rstrip()):
            continue
        candidate = text[start : match.end()].strip()
        start = match.end()
        if candidate:
            pieces.append(candidate)
    tail = text[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces


_KOREAN_REQUEST_TERMS = frozenset(tuple(lexical_tokens(form)) for form in _KOREAN_REQUEST_FORMS) - {()}
