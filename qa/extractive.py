"""The default backend: the article's own words, quoted exactly, with a numbered citation.

No offline model can translate or paraphrase an Arabic article reliably, so nothing here writes
a claim of its own. The answer decision (``qa.decision``) chose the words to quote; this frames
them in the question's language. An English question that asks for a number, a date, a place or a
name gets it in English first when the quote holds one (``qa.english``), read from the quote's
own words; otherwise the answer says plainly that it quotes the article's Arabic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from .answer import Answer, Language
from .backends import Context
from .english import Leads
from .lexicon import Lexicon

_ABSTAIN_TEXT = {
    "ar": "لا يجيب المقال عن هذا السؤال: لم أجد فيه ما يدل على الجواب.",
    "en": "The article does not answer this question: nothing in it says so.",
}


class ExtractiveBackend:
    name = "extractive"

    def __init__(self, text: str, lexicon: Lexicon | None = None) -> None:
        self.text = text
        self.leads = Leads(lexicon)

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
            self.frame(ctx.question, quote, n, ctx.language),
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

    def frame(self, question: str, quote: str, n: int, language: Language) -> str:
        """The exact quote in a sentence of the question's language, with its citation. For an
        English reader, the number, date, place or name asked for comes first in English when
        the quote says it; the quote follows in the article's Arabic."""
        if language == "ar":
            return f"بحسب المقال: «{quote}» [{n}]"
        lead = self.leads.lead(question, quote)
        if lead is None:
            return f"In Arabic [{n}]: «{quote}»"
        return f"{lead.text} [{n}]. In Arabic: «{quote}»"
