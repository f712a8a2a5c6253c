"""Tokenization and sentence splitting for English and Korean."""

from __future__ import annotations

from agent.text import lexical_tokens, split_sentences


def test_korean_particles_do_not_change_terms() -> None:
    assert lexical_tokens("휴가는") == lexical_tokens("휴가를") == lexical_tokens("휴가") == ["휴가"]
    assert lexical_tokens("연차 휴가는 며칠인가요?") == ["연차", "휴가"]


def test_korean_question_words_are_stop_words_like_english_ones() -> None:
    # Conversational endings too: "며칠이야" must not index as bigrams no document contains.
    assert lexical_tokens("연차는 며칠이야?") == lexical_tokens("연차는 며칠이에요?") == ["연차"]
    assert lexical_tokens("인계된 곳은 어딘가?") == lexical_tokens("인계된 곳은?")
    assert lexical_tokens("누구였는가") == lexical_tokens("무엇인가") == lexical_tokens("왜") == []
    assert lexical_tokens("재택근무는 몇 번 가능해요?") == ["재택", "택근", "근무", "번", "가능"]
    # Only whole question words: a word that merely starts with the same syllable stays.
    assert lexical_tokens("왜곡된 정보") == ["왜곡", "곡된", "정보"]


def test_korean_compounds_become_overlapping_bigrams() -> None:
    assert lexical_tokens("대한민국") == ["대한", "한민", "민국"]


def test_english_is_stemmed_and_stop_words_dropped() -> None:
    assert lexical_tokens("The deployments") == lexical_tokens("deployment")
    assert "the" not in lexical_tokens("What is the port?")


def test_full_width_and_case_fold_together() -> None:
    assert lexical_tokens("ＰＯＲＴ") == lexical_tokens("port")


def test_sentences_english_and_korean() -> None:
    english = split_sentences("The port is 8080. Use e.g. curl to test it. Done!")
    assert english == ["The port is 8080.", "Use e.g. curl to test it.", "Done!"]
    korean = split_sentences("직원은 15일의 휴가를 받습니다. 신청은 3일 전에 합니다.")
    assert korean == ["직원은 15일의 휴가를 받습니다.", "신청은 3일 전에 합니다."]


def test_a_korean_question_searches_without_its_grammar_words() -> None:
    from agent.text import query_terms

    # "할 수 있나요" (can I) and "해야 하나요" (must I) carry no content; the index still holds them.
    assert query_terms("재택근무는 일주일에 몇 번 할 수 있나요?") == ["재택", "택근", "근무", "일주", "주일", "번"]
    assert query_terms("그럼 신청은 언제까지 해야 하나요?") == ["신청"]
    assert "수" in lexical_tokens("수 있다") and query_terms("What can I do?") == lexical_tokens("What can I do?")
