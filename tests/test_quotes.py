"""Quotes without a model: only what answers is cited, each passage once, and quotes keep their shape."""

from __future__ import annotations

from collections.abc import Callable

from adapters.fake.adapter import FakeAdapter
from agent.text import split_sentences
from bot.app import Teambot
from bot.parsers import ParseLimits, parse_document
from bot.settings import Settings
from tests.support import documents

LIMITS = ParseLimits(max_pages=50)

FILLER = " ".join(f"Filler sentence number {i} talks about nothing in particular." for i in range(6))


async def test_a_sentence_in_the_overlap_of_two_chunks_is_quoted_and_cited_once(
    make_settings: Callable[..., Settings],
) -> None:
    # Chunks overlap by TEAMBOT_CHUNK_OVERLAP: the answer sits where the first chunk ends and the next begins.
    text = f"# Leave\n\n{FILLER}\n\nParental leave lasts sixteen weeks at full pay.\n\n{FILLER}\n"
    async with Teambot(make_settings(chunk_size=500, chunk_overlap=100)) as teambot:
        fake = FakeAdapter(teambot)
        [outcome] = await fake.upload("leave.md", text.encode())
        assert outcome.result is not None and outcome.result.document.chunk_count > 1
        reply = (await fake.say("How long is parental leave?")).reply

    assert reply is not None and reply.answered
    assert reply.text.count("Parental leave lasts sixteen weeks") == 1
    assert len(reply.citations) == 1 and "[2]" not in reply.text


async def test_an_extra_source_is_cited_only_when_it_answers_on_its_own(teambot: Teambot) -> None:
    fake = FakeAdapter(teambot)
    await fake.upload("handbook.md",
                      b"# Team handbook\n\n## On-call\n\nThe on-call rotation changes every Monday at 10:00.\n")
    await fake.upload("contacts.md", b"# Contacts\n\nThe Data team's on-call engineer is Grace Lee.\n")

    reply = (await fake.say("Who is the on-call engineer of the Data team?")).reply

    assert reply is not None and "Grace Lee" in reply.text
    assert [c.source for c in reply.citations] == ["contacts.md"], reply.text
    assert "rotation" not in reply.text


DEPLOY_YAML = b"""name: release
on:
  push:
    branches: [main]
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - run: make deploy
        env:
          DEPLOY_REGION: eu-west-1
"""


async def test_yaml_is_quoted_line_by_line_with_line_numbers(teambot: Teambot) -> None:
    fake = FakeAdapter(teambot)
    await fake.upload("release.yaml", DEPLOY_YAML)

    reply = (await fake.say("Which DEPLOY_REGION does the deploy job use?")).reply

    assert reply is not None and reply.answered
    assert "```" in reply.text
    assert "11            DEPLOY_REGION: eu-west-1" in reply.text.splitlines()
    assert reply.citations[0].location == "line 11"


TABLE = b"""# Leave

| Leave | Days |
| --- | --- |
| Annual leave | 25 |
| Sick leave | 10 |
| Parental leave | 80 |
"""


async def test_a_markdown_table_is_quoted_row_by_row(teambot: Teambot) -> None:
    fake = FakeAdapter(teambot)
    await fake.upload("leave.md", TABLE)

    reply = (await fake.say("How many days of sick leave?")).reply

    assert reply is not None and reply.answered
    lines = reply.text.splitlines()
    assert "| Sick leave | 10 |" in lines
    assert "| Leave | Days |" in lines, "the table's header row says what the columns are"
    assert not any("| 25 |" in line and "| 10 |" in line for line in lines), "rows are not squashed together"


CONTACTS = (b"team,primary,secondary\nPlatform,Ada Kim,Linus Park\nData,Grace Lee,Ken Choi\n"
            b"Mobile,Margaret Han,Dennis Yoo\n")


async def test_csv_rows_are_quoted_with_their_row_numbers(teambot: Teambot) -> None:
    fake = FakeAdapter(teambot)
    await fake.upload("contacts.csv", CONTACTS)

    reply = (await fake.say("Who is the primary for the Mobile team?")).reply

    assert reply is not None and reply.answered
    assert "4  team: Mobile; primary: Margaret Han; secondary: Dennis Yoo" in reply.text.splitlines()
    assert "Ada Kim" not in reply.text and "Grace Lee" not in reply.text
    assert reply.citations[0].location == "row 4"


def test_a_pdf_heading_does_not_run_into_the_first_sentence() -> None:
    parsed = parse_document("policy.pdf", documents.make_pdf(["Travel Policy\nMeals are covered up to 50 euros a day.\n"
                                                               "Book trains, not flights, for trips under 500 km."]),
                            LIMITS)
    sentences = split_sentences(parsed.sections[0].text)
    assert sentences[:2] == ["Travel Policy", "Meals are covered up to 50 euros a day."]


def test_a_wrapped_line_is_not_a_heading() -> None:
    text = "Deploys are frozen on Fridays\nafter 15:00. Rollbacks need no approval\nfrom anyone."
    assert split_sentences(text) == ["Deploys are frozen on Fridays\nafter 15:00.",
                                     "Rollbacks need no approval\nfrom anyone."]


def test_a_word_documents_title_is_part_of_its_section_path() -> None:
    data = documents.make_docx([("title", "Travel Policy"), ("h1", "Meals"), ("p", "Meals are covered.")])
    assert [s.location for s in parse_document("travel.docx", data, LIMITS).sections] == ["§ Travel Policy > Meals"]

    data = documents.make_docx([("h1", "Meals"), ("p", "Meals are covered.")], core_title="Travel Policy")
    assert [s.location for s in parse_document("travel.docx", data, LIMITS).sections] == ["§ Travel Policy > Meals"]
