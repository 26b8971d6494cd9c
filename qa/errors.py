"""Errors a user can cause or fix; each message is one line, fit to show as it is."""

from __future__ import annotations

from index import DocumentError


class QuestionError(ValueError):
    """The question (or its history) cannot be answered as given."""


class HistoryError(QuestionError):
    """``history`` is not a list of messages."""


class BackendError(RuntimeError):
    """The LLM backend cannot be loaded or reached; the message is one line, fit to show."""


class DocumentNotFoundError(LookupError):
    """No article with that id on this server."""


class DocumentLimitError(DocumentError):
    """The server holds as many added articles as ``SANAD_MAX_DOCUMENTS`` allows."""
