"""The default backend: the article's own words, quoted exactly, with a numbered citation.

No offline model can translate or paraphrase an Arabic article reliably, so nothing here writes
a claim of its own. The answer decision (``qa.decision``) chose the words to quote; this frames
them in the question's language. For an English question the frame carries over only what needs
no translation: the places, numbers and Latin-script names the quote itself contains.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence

from .answer import Answer, Language
from .backends import Context
from .names import place_names

_ABSTAIN_TEXT = {
    "ar": "لا يجيب المقال عن هذا السؤال: لم أجد فيه ما يدل على الجواب.",
    "en": "The article does not answer this question: nothing in it says so.",
}
_CARRY = re.compile(r"[A-Za-z][A-Za-z-]*(?:\s+[A-Z][A-Za-z-]*)*|\d+(?:[.,]\d+)?")


class ExtractiveBackend:
    name = "extractive"

    def __init__(self, text: str) -> None:
        self.text = text

    def standalone(
        self, question: str, history: Sequence[dict[str, str]], language: Language
    ) -> str | None:
        return None  # without a model, a follow-up is anchored to the previous question

    def answer(self, ctx: Context) -> Answer:
        if ctx.quote is None:
            return Answer(
                ctx.question,
                _ABSTAIN_TEXT[ctx.language],
                ctx.language,
                True,
                ctx.sources,
                query=ctx.query,
                confidence=round(ctx.confidence, 4),
            )
        n = next(i for i, s in enumerate(ctx.sources, 1) if s.chunk_id == ctx.quote.chunk_id)
        quote = self.text[ctx.quote.start : ctx.quote.end].strip()
        return Answer(
            ctx.question,
            _frame(quote, n, ctx.language),
            ctx.language,
            False,
            ctx.sources,
            query=ctx.query,
            confidence=round(ctx.confidence, 4),
        )

    def stream(self, ctx: Context) -> Iterator[str | Answer]:
        answer = self.answer(ctx)
        yield from re.split(r"(?<=\s)", answer.answer)
        yield answer


def _frame(quote: str, n: int, language: Language) -> str:
    """Put the exact quote in a sentence of the question's language, with its citation. For an
    English reader, the places, Latin-script names and numbers in the quote are spelled out:
    they need a dictionary, not a translator, so nothing is said that the quote does not."""
    if language == "ar":
        return f"بحسب المقال: «{quote}» [{n}]"
    carried = place_names(quote) + _latin_and_numbers(quote)
    if carried:
        return f"The article says [{n}]: «{quote}» (names and figures: {', '.join(carried)})"
    return f"The article says [{n}]: «{quote}»"


def _latin_and_numbers(quote: str) -> list[str]:
    """Numbers and Latin-script names in the quote: they read the same in English."""
    seen: list[str] = []
    for m in _CARRY.finditer(unicodedata.normalize("NFKC", quote)):
        token = m.group(0)
        if token not in seen:
            seen.append(token)
    return seen
