"""The result of a question: what sanad says, in which language, and the passages behind it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Language = Literal["ar", "en"]


@dataclass(frozen=True)
class Source:
    """One retrieved passage, numbered by its position in ``Answer.sources`` (1-based)."""

    text: str  # the passage exactly as the article has it
    chunk_id: int
    score: float  # higher is more relevant; comparable within one answer only
    start: int  # character offsets of ``text`` in the original document
    end: int
    # Character offsets (in the document) of the quoted evidence inside this passage, if any.
    highlights: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    language: Language
    abstained: bool
    sources: list[Source]
    # False when a generated answer failed the grounding check and the extractive answer was
    # shown instead; ``reason`` then says why.
    grounded: bool = True
    reason: str | None = None
    backend: str = "extractive"
    # The standalone query actually used for retrieval (differs from ``question`` on follow-ups).
    query: str | None = None
    # The answer decision's fitted probability that the quoted passage answers the question
    # (on a refusal, that the closest sentence would have): comparable across questions.
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for s in d["sources"]:
            s["highlights"] = [list(h) for h in s["highlights"]]
        return d
