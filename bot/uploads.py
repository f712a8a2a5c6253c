"""Reading folders of documents from disk, for the command line and the console's `/upload DIR`.

(Uploading itself, listings and their texts are `bot.commands`.)"""

from __future__ import annotations

from pathlib import Path

from bot.parsers import SUPPORTED_EXTENSIONS, extension_of


def walk_folder(folder: Path) -> list[Path]:
    """The documents under `folder` (recursively, in name order): supported, non-hidden, non-empty files.

    What `teambot ingest DIR` and the console's `/upload DIR` read; blocking, so run it in a thread
    from async code.
    """
    files: list[Path] = []
    for child in sorted(folder.rglob("*")):
        hidden = any(part.startswith(".") for part in child.relative_to(folder).parts)
        # Folders are walked for documents: empty files (package markers) are not documents.
        if (child.is_file() and not hidden and extension_of(child.name) in SUPPORTED_EXTENSIONS
                and child.stat().st_size > 0):
            files.append(child)
    return files
