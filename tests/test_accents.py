"""Names written with or without their accents find each other: people type "Mongke" and "Gospic"
for the documents' "Möngke" and "Gospić", and the reverse."""

from __future__ import annotations

from adapters.fake.adapter import FakeAdapter
from agent.text import lexical_tokens
from bot.app import Teambot

HISTORY = """# Mongol history

## The Song campaign

Möngke Khan commenced a military campaign against the Song dynasty in southern China in 1258.

## Tesla's youth

The police brought Tesla back to Gospić for not having a residence permit.

## Café opening hours

The cafe in Tromso opens at 07:30 on weekdays.
"""


def test_latin_accents_fold_and_other_scripts_keep_their_marks() -> None:
    assert lexical_tokens("Möngke Gospić São Paulo") == lexical_tokens("Mongke Gospic Sao Paulo")
    # Letters that are not a base letter plus an accent fold by their usual spelling.
    assert lexical_tokens("Ærø Łódź Straße Þórr") == lexical_tokens("AEro Lodz Strasse Thorr")
    assert lexical_tokens("crème brûlée") == lexical_tokens("creme brulee")
    # Hangul and kana with dakuten are not Latin letters with accents: untouched, beside them too.
    assert lexical_tokens("연차 휴가 café") == ["연차", "휴가", "cafe"]
    assert lexical_tokens("がぎ café") == ["がぎ", "cafe"]
    assert lexical_tokens("Йошкар-Ола café") == ["йошкар", "ола", "cafe"]  # й is a letter of its own


async def test_a_name_typed_without_its_accents_is_found_and_answered(teambot: Teambot) -> None:
    fake = FakeAdapter(teambot)
    await fake.upload("history.md", HISTORY.encode())

    for question, fact in [
        ("Where did Mongke Khan attack the Song dynasty?", "southern China"),
        ("Why did the police bring Tesla back to Gospic?", "residence permit"),
        ("When does the café in Tromsø open?", "07:30"),  # and accents the document does not have
    ]:
        stream = await fake.say(question)
        assert stream.reply is not None and stream.reply.answered, (question, stream.reply)
        assert fact in stream.reply.text, (question, stream.reply.text)
