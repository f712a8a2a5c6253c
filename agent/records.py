"""Plain records passed between ingestion, the stores and retrieval."""

from __future__ import annotations

from dataclasses import dataclass

from agent.text import lexical_tokens
from bot.core.values import Scope


def index_terms(*, title: str, location: str, text: str) -> list[str]:
    """A chunk's lexical index terms, from its stored parts: ingestion and re-tokenizing a stored
    catalog must agree exactly. Title and section heading count for every chunk of a section."""
    return lexical_tokens(f"{title}\n{location}\n{text}")


def section_heading(location: str) -> str:
    """The heading path in a chunk's location (`§ Install > Linux` -> `Install > Linux`); pages,
    rows and line ranges (`p. 3`, `rows 1-40`) are positions, not headings: empty for them."""
    return location.removeprefix("§ ") if location.startswith("§") else ""


def chunk_id(document_id: str, ordinal: int) -> str:
    """The id of a document's `ordinal`-th chunk (0 is where the document begins)."""
    return f"{document_id}:{ordinal}"


def document_of(chunk_id: str) -> str:
    """The id of the document a chunk id belongs to."""
    return chunk_id.rpartition(":")[0]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One retrievable piece of a document, with where it came from."""

    id: str
    document_id: str
    ordinal: int
    text: str
    source: str
    title: str
    location: str
    """Human location inside the document: `p. 3`, `§ Install > Linux`, `rows 1-40`, `lines 10-60`."""
    scope: Scope
    url: str | None = None
    """Where the document lives, if known (the catalog's; not in the vector store's metadata)."""
    updated_at: float | None = None
    """When the document last changed (its ingestion time), as the catalog has it."""

    def index_terms(self) -> list[str]:
        """What the lexical index holds for this chunk (see `index_terms`)."""
        return index_terms(title=self.title, location=self.location, text=self.text)

    def metadata(self) -> dict[str, str | int]:
        """Flat metadata for the vector store (scope fields are what queries filter on)."""
        return {
            "document_id": self.document_id,
            "ordinal": self.ordinal,
            "source": self.source,
            "title": self.title,
            "location": self.location,
            "platform": self.scope.platform,
            "workspace": self.scope.workspace,
            "channel": self.scope.channel,
        }


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk with its fused score and the query terms' coverage of it."""

    chunk: Chunk
    score: float
    coverage: float = 0.0
    dense_similarity: float | None = None
