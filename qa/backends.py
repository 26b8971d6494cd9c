"""The answer backends behind one small interface, as ``llm``'s model plugins are.

Retrieval and the answer decision run before any backend is asked, so every backend answers
from the same ``Context``: the question, the sources, and the decision's quote (``None`` when
the article does not answer). The extractive default is one backend like the LLM ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from .answer import Answer, Language, Source


@dataclass(frozen=True)
class Quote:
    """The article's words that answer, as document offsets, and the passage that holds them."""

    chunk_id: int
    start: int
    end: int


@dataclass(frozen=True)
class Context:
    question: str  # cleaned
    language: Language
    history: list[dict[str, str]]
    query: str  # what retrieval searched with
    sources: list[Source]  # the quoted passage first
    quote: Quote | None  # None: the article does not answer
    confidence: float  # the decision's probability that the quote answers


class Backend(Protocol):
    """Answers a question from a ``Context``."""

    name: str

    def standalone(
        self, question: str, history: Sequence[dict[str, str]], language: Language
    ) -> str | None:
        """A standalone rewrite of a follow-up to search with, or None to let sanad anchor it."""
        ...

    def stream(self, ctx: Context) -> Iterator[str | Answer]:
        """The answer's text in pieces, then the final ``Answer`` (whose text is authoritative)."""
        ...
