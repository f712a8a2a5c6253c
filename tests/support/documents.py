"""Fixture documents generated in the tests, one per supported format."""

from __future__ import annotations

import io
import json
import zipfile


def make_pdf(pages: list[str], *, title: str = "Handbook") -> bytes:
    """A real PDF with one text page per entry (reportlab)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(title)
    for text in pages:
        y = 800
        for line in text.split("\n"):
            pdf.drawString(50, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def make_docx(blocks: list[tuple[str, str]], *, core_title: str | None = None) -> bytes:
    """A real .docx; blocks are ("title"|"h1"|"h2"|"p", text); `core_title` is the core properties' title."""
    import docx

    document = docx.Document()
    if core_title is not None:
        document.core_properties.title = core_title
    for kind, text in blocks:
        if kind == "title":
            document.add_heading(text, level=0)  # the "Title" style
        elif kind.startswith("h"):
            document.add_heading(text, level=int(kind[1]))
        else:
            document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def zip_bomb_docx(expanded_bytes: int) -> bytes:
    """A zip whose entry claims to expand to `expanded_bytes` (highly compressible zeros)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/bomb.bin", "w") as entry:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(expanded_bytes // len(chunk)):
                entry.write(chunk)
    return buffer.getvalue()


DEPLOY_GUIDE = b"""# Deploy guide

## Linux

To deploy on Linux, run make install and start the service with systemctl start teambot.
The default port of the web console is 8080.

## Windows

On Windows, run the installer teambot-setup.exe and choose the service option.
"""
"""A small Markdown guide with two sections, the document most chat tests upload and ask about."""

HTML = """<!doctype html><html><head><title>Onboarding</title><style>p{color:red}</style></head>
<body><h1>Onboarding</h1><p>Welcome to the team.</p>
<h2>Accounts</h2><p>Request your VPN account from the IT desk on your first day.</p>
<script>alert('not content')</script></body></html>"""

CSV = "name,role,extension\nAda,Engineer,4411\nGrace,Admiral,4412\n"

JSON = json.dumps({"oncall": {"primary": "Ada", "pager": "555-0100"}, "escalation": ["Grace", "Linus"]})

PYTHON = ('"""Rate limiter."""\n\n\ndef allow(tokens: int) -> bool:\n'
          '    """Refill the bucket every second."""\n    return tokens > 0\n')
