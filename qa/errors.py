"""Errors a user can cause or fix; each message is one line, fit to show as it is."""

from __future__ import annotations


class QuestionError(ValueError):
    """The question (or its history) cannot be answered as given."""


class HistoryError(QuestionError):
    """``history`` is not a list of messages."""


class BackendError(RuntimeError):
    """The LLM backend cannot be loaded or reached; the message is one line, fit to show."""
