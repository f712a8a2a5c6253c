"""Errors every layer may raise or catch; each one's `str()` is fit to show a user."""

from __future__ import annotations


class IngestError(ValueError):
    """A file cannot be ingested; `str(error)` is the one-line reason."""


class PermissionDenied(Exception):
    """The person may not do this; `str(error)` is the one-line reason shown to them."""


class StoreUnavailable(RuntimeError):
    """The document (vector) store failed; the message is fit to show a user."""
