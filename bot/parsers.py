"""Uploaded file -> text sections that keep the document's structure (pages, headings, rows, lines).

Every parser raises `IngestError` with a one-line reason a user can act on.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath

from bot.core.errors import IngestError
from bot.core.labels import MAX_HEADING_CHARS, clean_label


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text with its human location (`p. 3`, `§ Setup > Linux`, `rows 2-51`, `lines 1-80`)."""

    text: str
    location: str = ""


@dataclass(slots=True)
class ParsedDocument:
    title: str
    sections: list[Section] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ParseLimits:
    max_pages: int = 2000
    max_unzipped_bytes: int = 200 * 1024 * 1024
    max_extracted_chars: int = 10_000_000
    """Text a document may yield. Checked as it grows: CSV and JSON render each value with its
    column or path, so a small file can expand many times over."""


class _TextBudget:
    """Counts extracted characters against `ParseLimits.max_extracted_chars`."""

    def __init__(self, limits: ParseLimits) -> None:
        self._limit = limits.max_extracted_chars
        self._left = self._limit

    def spend(self, text: str) -> str:
        self._left -= len(text)
        if self._left < 0:
            raise IngestError(f"the file has more than {self._limit:,} characters of text, over the limit")
        return text


CODE_EXTENSIONS = frozenset(
    ".py .pyi .js .mjs .cjs .ts .tsx .jsx .go .java .kt .kts .rs .c .h .cc .cpp .hpp .cs .rb .php .swift .scala"
    " .sh .bash .zsh .sql .yaml .yml .toml .ini .cfg .conf .xml .css .scss .r .lua .pl .proto .tf .gradle"
    " .dockerfile .makefile".split()
)
TEXT_EXTENSIONS = frozenset(".txt .text .log .rst".split())
MARKDOWN_EXTENSIONS = frozenset(".md .markdown .mdx".split())
HTML_EXTENSIONS = frozenset(".html .htm .xhtml".split())
SUPPORTED_EXTENSIONS = (
    CODE_EXTENSIONS | TEXT_EXTENSIONS | MARKDOWN_EXTENSIONS | HTML_EXTENSIONS | {".pdf", ".docx", ".csv", ".json"}
)
_SPECIAL_NAMES = {"dockerfile": ".dockerfile", "makefile": ".makefile"}
_CODE_LINES_PER_SECTION = 80
_MAX_LOCATION_CHARS = 3 * MAX_HEADING_CHARS
"""A heading path (`§ Setup > Linux > …`) is cut here: three full headings, or six short ones."""
_CSV_ROWS_PER_SECTION = 40


def extension_of(name: str) -> str:
    path = PurePath(name)
    return _SPECIAL_NAMES.get(path.name.lower(), path.suffix.lower())


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, or CP949 (common for Korean files from Windows)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise IngestError("the file is not valid UTF-16 text") from None
    if b"\x00" in data[:8192]:
        raise IngestError("the file looks binary, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp949")
    except UnicodeDecodeError:
        raise IngestError("the file is not valid UTF-8 text") from None
    # CP949 decodes many byte soups; only accept it when the result reads like Korean or ASCII text.
    readable = sum(1 for ch in text if ch.isascii() or "\uac00" <= ch <= "\ud7a3")
    if readable < 0.95 * len(text):
        raise IngestError("the file is not valid UTF-8 text")
    return text


def _stem_title(name: str) -> str:
    return PurePath(name).stem.replace("_", " ").replace("-", " ").strip() or name


# --- plain text and code --------------------------------------------------------


def _parse_text(name: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    return ParsedDocument(title=_stem_title(name), sections=[Section(_TextBudget(limits).spend(decode_text(data)))])


def _parse_code(name: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    lines = _TextBudget(limits).spend(decode_text(data)).splitlines()
    sections = []
    for start in range(0, len(lines), _CODE_LINES_PER_SECTION):
        block = lines[start : start + _CODE_LINES_PER_SECTION]
        end = start + len(block)
        sections.append(Section("\n".join(block), f"lines {start + 1}-{end}"))
    return ParsedDocument(title=PurePath(name).name, sections=sections)


# --- markdown --------------------------------------------------------------------

# Only the opening is matched by the regex; the closing `#`s and spaces are stripped in Python.
# A lazy `(.+?)` followed by `\s*#*\s*$` backtracks in time cubic in a run of spaces (a 3 KB
# line froze the bot for a minute); this pattern has no nested or adjacent overlapping repeats.
_MD_HEADING = re.compile(r"(#{1,6})[^\S\n]+(\S.*)")


def heading_text(line: str) -> tuple[int, str] | None:
    """`(level, text)` of an ATX heading line (`## Setup ##`), or None; linear in the line's length."""
    match = _MD_HEADING.match(line)
    if match is None:
        return None
    text = match.group(2).rstrip()
    without_closing = text.rstrip("#")
    # A closing sequence counts only after a space (`# C#` is about C#), as CommonMark says.
    if without_closing != text and (not without_closing or without_closing[-1] in " \t"):
        text = without_closing.rstrip()
    return (len(match.group(1)), text) if text else None


def _sections_by_headings(lines: list[tuple[int, str] | str]) -> tuple[str | None, list[Section]]:
    """Group lines under their heading path. Items are `(level, heading)` or body lines."""
    path: list[tuple[int, str]] = []
    first_title: str | None = None
    sections: list[Section] = []
    body: list[str] = []

    def flush() -> None:
        text = "\n".join(body).strip()
        if text:
            location = "§ " + " > ".join(h for _, h in path) if path else ""
            sections.append(Section(text, location))
        body.clear()

    for item in lines:
        if isinstance(item, tuple):
            flush()
            level, heading = item
            # Every chunk under it repeats the whole heading path, and every citation shows it.
            heading = clean_label(heading, max_chars=MAX_HEADING_CHARS)
            if not heading:
                continue
            first_title = first_title or heading
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, heading))
        else:
            body.append(item)
    flush()
    return first_title, sections


def _parse_markdown(name: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    items: list[tuple[int, str] | str] = []
    in_fence = False
    for line in _TextBudget(limits).spend(decode_text(data)).splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        heading = None if in_fence else heading_text(line)
        items.append(heading or line)
    title, sections = _sections_by_headings(items)
    return ParsedDocument(title=title or _stem_title(name), sections=sections)


# --- HTML ---------------------------------------------------------------------------


_HTML_BLOCKS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer form header hr li main nav ol p pre"
    " section table tbody td tfoot th thead tr ul caption details summary".split()
)
_HTML_SKIP = frozenset("script style noscript template svg head title".split())


def _parse_html(name: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    from bs4 import BeautifulSoup, Comment, Tag  # noqa: PLC0415
    from bs4.element import NavigableString  # noqa: PLC0415

    soup = BeautifulSoup(decode_text(data), "html.parser")
    page_title = soup.title.get_text(" ", strip=True) if soup.title else ""
    items: list[tuple[int, str] | str] = []
    line: list[str] = []
    skipped: set[int] = set()  # ids of text nodes already used (headings) or not content

    def end_line() -> None:
        text = " ".join(" ".join(line).split())
        if text:
            items.append(text)
        line.clear()

    # `descendants` is an iterative walk, so deeply nested markup cannot overflow the stack.
    for node in soup.descendants:
        if isinstance(node, Tag):
            if node.name in _HTML_SKIP or (len(node.name) == 2 and node.name[0] == "h" and node.name[1].isdigit()):
                strings = list(node.strings)
                skipped.update(id(s) for s in strings)
                if node.name[0] == "h" and node.name not in _HTML_SKIP:
                    end_line()
                    heading = " ".join(" ".join(strings).split())
                    if heading:
                        items.append((int(node.name[1]), heading))
            elif node.name in _HTML_BLOCKS:
                end_line()
        elif isinstance(node, NavigableString) and not isinstance(node, Comment) and id(node) not in skipped:
            if type(node) is NavigableString:  # not CData, Doctype, processing instructions
                line.append(str(node))
    end_line()
    title, sections = _sections_by_headings(items)
    return ParsedDocument(title=page_title or title or _stem_title(name), sections=sections)


# --- PDF --------------------------------------------------------------------------------


def _parse_pdf(name: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    from pypdf import PdfReader  # noqa: PLC0415

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise IngestError("the PDF is encrypted; upload a copy without a password")
        if len(reader.pages) > limits.max_pages:
            raise IngestError(f"the PDF has {len(reader.pages)} pages, more than the limit of {limits.max_pages}")
        sections = []
        budget = _TextBudget(limits)
        for number, page in enumerate(reader.pages, start=1):
            text = budget.spend(page.extract_text() or "")
            if text.strip():
                sections.append(Section(text, f"p. {number}"))
        metadata_title = (reader.metadata.title if reader.metadata else None) or ""
    except IngestError:
        raise
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - pypdf raises many exception types on broken files
        raise IngestError("the PDF is damaged or unreadable") from None
    if not sections:
        raise IngestError("the PDF has no extractable text (a scan? run OCR first)")
    return ParsedDocument(title=str(metadata_title).strip() or _stem_title(name), sections=sections)


# --- DOCX ----------------------------------------------------------------------------------


def _check_zip(data: bytes, limits: ParseLimits) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise IngestError("the file is not a valid .docx (not a zip archive)") from None
    if total > limits.max_unzipped_bytes:
        raise IngestError("the .docx expands to more than the allowed size (zip bomb?)")


def _parse_docx(name: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    import docx  # noqa: PLC0415
    from docx.opc.exceptions import PackageNotFoundError  # noqa: PLC0415

    _check_zip(data, limits)
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile):
        raise IngestError("the .docx is damaged or unreadable") from None
    items: list[tuple[int, str] | str] = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        match = re.match(r"(?:Heading|제목)\s*(\d)", style)
        if style == "Title":
            # Above every heading level: "Heading 1" sections belong to the title, not replace it.
            items.append((0, text))
        elif match:
            items.append((int(match.group(1)), text))
        else:
            items.append(text)
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells if cell.text.strip()]
            if cells:
                items.append(" | ".join(dict.fromkeys(cells)))
    core_title = (document.core_properties.title or "").strip()
    # The title heads the section path; a document without a Title paragraph has the core properties'
    # title there (unless its first heading already says the same).
    if core_title and not any(isinstance(item, tuple) and item[0] == 0 for item in items):
        first_heading = next((item[1] for item in items if isinstance(item, tuple)), None)
        if first_heading != core_title:
            items.insert(0, (0, core_title))
    title, sections = _sections_by_headings(items)
    return ParsedDocument(title=core_title or title or _stem_title(name), sections=sections)


# --- CSV and JSON ---------------------------------------------------------------------------


def _parse_csv(name: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    text = decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        # Blank rows dropped while reading: a file of a million empty lines never becomes a list of them.
        rows = [row for row in csv.reader(io.StringIO(text), dialect) if "".join(row).strip()]
    except csv.Error as exc:
        raise IngestError(f"the CSV is malformed ({exc})") from None
    if not rows:
        return ParsedDocument(title=_stem_title(name))
    header, body = rows[0], rows[1:]
    sections = []
    budget = _TextBudget(limits)
    for start in range(0, len(body), _CSV_ROWS_PER_SECTION):
        block = body[start : start + _CSV_ROWS_PER_SECTION]
        lines = [
            budget.spend("; ".join(f"{h.strip() or f'column {i + 1}'}: {v.strip()}"
                                   for i, (h, v) in enumerate(zip(header, row, strict=False)) if v.strip()))
            for row in block
        ]
        # +2: row numbers as a spreadsheet shows them, the header being row 1
        # Blank lines between rows: each row is its own paragraph (and quotable sentence).
        sections.append(Section("\n\n".join(lines), f"rows {start + 2}-{start + len(block) + 1}"))
    if not body:
        sections.append(Section(", ".join(header), "row 1"))
    return ParsedDocument(title=_stem_title(name), sections=sections)


def _flatten_json(value: object, path: str, out: list[str], budget: _TextBudget, depth: int = 0) -> None:
    if depth > 64:
        raise IngestError("the JSON is nested too deeply")
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten_json(item, f"{path}.{key}" if path else str(key), out, budget, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten_json(item, f"{path}[{index}]", out, budget, depth + 1)
    elif value is not None and str(value).strip():
        out.append(budget.spend(f"{path}: {value}" if path else str(value)))


def _parse_json(name: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    try:
        value = json.loads(decode_text(data))
    except json.JSONDecodeError as exc:
        raise IngestError(f"the JSON is malformed (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise IngestError("the JSON is nested too deeply") from None
    sections = []
    budget = _TextBudget(limits)
    if isinstance(value, dict):
        for key, item in value.items():
            lines: list[str] = []
            _flatten_json(item, str(key), lines, budget)
            if lines:
                sections.append(Section("\n".join(lines), f"§ {key}"))
    else:
        lines = []
        _flatten_json(value, "", lines, budget)
        if lines:
            sections.append(Section("\n".join(lines)))
    return ParsedDocument(title=_stem_title(name), sections=sections)


_PARSERS: dict[str, Callable[[str, bytes, ParseLimits], ParsedDocument]] = {
    **{ext: _parse_text for ext in TEXT_EXTENSIONS},
    **{ext: _parse_markdown for ext in MARKDOWN_EXTENSIONS},
    **{ext: _parse_html for ext in HTML_EXTENSIONS},
    **{ext: _parse_code for ext in CODE_EXTENSIONS},
    ".pdf": _parse_pdf,
    ".docx": _parse_docx,
    ".csv": _parse_csv,
    ".json": _parse_json,
}


def parse_document(name: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    """Parse `data` by the extension of `name`; raises `IngestError` with a one-line reason."""
    extension = extension_of(name)
    parser = _PARSERS.get(extension)
    if parser is None:
        shown = extension or "(no extension)"
        raise IngestError(f"unsupported file type {shown}; "
                          "supported: .txt .md .pdf .docx .html .csv .json and source code")
    if not data:
        raise IngestError("the file is empty")
    try:
        parsed = parser(name, data, limits)
    except (IngestError, MemoryError):
        raise
    except RecursionError:
        raise IngestError("the file is nested too deeply to read") from None
    except Exception:  # noqa: BLE001 - third-party parsers fail in many ways on hostile input
        raise IngestError(f"the file is damaged or not really a {extension} file") from None
    if not any(section.text.strip() for section in parsed.sections):
        raise IngestError("the file contains no text")
    # Every format, whatever it checked on the way (HTML and DOCX yield at most their markup's text).
    budget = _TextBudget(limits)
    for section in parsed.sections:
        budget.spend(section.text)
    # Titles and locations come from the file too (PDF metadata, JSON keys...): one printable line each.
    return ParsedDocument(
        title=clean_label(parsed.title, max_chars=MAX_HEADING_CHARS) or _stem_title(name),
        sections=[Section(s.text, clean_label(s.location, max_chars=_MAX_LOCATION_CHARS)) for s in parsed.sections],
    )
