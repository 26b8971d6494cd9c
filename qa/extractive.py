"""The default answerer: the article's own words, quoted exactly, with numbered citations.

No offline model can translate or paraphrase this article reliably, so nothing here writes a
claim of its own. It picks the sentence (or the clause of it) that answers the question, quotes
it character for character, and frames it in the question's language. For an English question
the frame carries over only what needs no translation: the numbers and Latin-script names that
the quote itself contains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

import numpy as np

from index import (
    arabic_skeletons,
    latin_skeletons,
    latin_tokens,
    name_words,
    normalize,
    skeleton_match,
    tokenize,
)

from .retrieval import Hit, Retrieval


class AnswerType(Enum):
    ANY = "any"
    NUMBER = "number"
    DATE = "date"
    EXACT_DATE = "exact_date"
    NAME = "name"


_TYPE_PATTERNS: list[tuple[AnswerType, re.Pattern[str]]] = [
    (
        AnswerType.EXACT_DATE,
        re.compile(
            r"(exact|precise|specific)\w*\s+(date|day)|(date|day)\s+exactly|تاريخ\s+\S*\s*بالضبط"
            r"|(اي|أي)\s+(تاريخ|يوم)\s+بالضبط|بالتحديد\s+(تاريخ|يوم)",
            re.IGNORECASE,
        ),
    ),
    (
        AnswerType.DATE,
        re.compile(
            r"\bwhen\b|what (date|day|year|month)|which (date|day|year|month)|\bمتى\b|تاريخ"
            r"|(اي|أي) (عام|سنة|يوم|شهر)",
            re.IGNORECASE,
        ),
    ),
    (
        AnswerType.NUMBER,
        re.compile(r"how (many|much)|number of|what percentage|\bكم\b|\bعدد\b|نسبة", re.IGNORECASE),
    ),
    (
        AnswerType.NAME,
        re.compile(
            r"(what|which) (was|is|were|are) the name|\bnamed\b|(?<!so-)\bcalled\b|\bما (اسم|إسم)\b"
            r"|\bاسم\b",
            re.IGNORECASE,
        ),
    ),
]

_MONTHS = (
    "يناير فبراير مارس أبريل ابريل مايو يونيو يوليو أغسطس اغسطس سبتمبر أكتوبر اكتوبر نوفمبر "
    "ديسمبر كانون شباط آذار نيسان أيار حزيران تموز آب أيلول تشرين "
    "january february march april may june "
    "july august september october november december"
).split()
# Arabic words take proclitics (و، ب، ل، ال، في…), so whole-word patterns allow them in front.
_PROCLITIC = r"(?<!\w)(?:و|ف|ب|ل|ال|وال|بال|فال|لل)?"
_MONTH_RE = re.compile(_PROCLITIC + "(?:" + "|".join(normalize(m) for m in _MONTHS) + r")(?!\w)")
_RELATIVE_TIME = re.compile(
    r"(?<!\w)(?:"
    + normalize(
        "الأسبوع الماضي|الشهر الماضي|العام الماضي|هذا الشهر|هذا العام|قبل أسبوع|قبل أسبوعين"
        "|قبل شهر|قبل عام|أمس|last week|last month|last year|this month|this year|ago|yesterday"
    )
    + r")(?!\w)"
)
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_DAY_DATE = re.compile(r"\b\d{1,2}\s*[/.-]\s*\d{1,2}\s*[/.-]\s*\d{2,4}\b")
_NUMBER_WORDS = re.compile(
    r"\d|"
    + _PROCLITIC
    + "(?:"
    + normalize(
        "واحد|واحدة|اثنان|اثنين|اثنتان|ثلاث|ثلاثة|أربع|أربعة|خمس|خمسة|ست|ستة|سبع|سبعة|ثمان|ثماني"
        "|ثمانية|تسع|تسعة|عشر|عشرة|عشرون|عشرين|ثلاثون|ثلاثين|أربعون|أربعين|خمسون|خمسين|مائة|مئة"
        "|مئات|ألف|آلاف|مليون|ملايين|عشرات|نصف|ربع|ثلث|dozens?|hundreds?|thousands?|millions?"
        "|one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|fifty|hundred"
    )
    + r")(?!\w)"
)
_NAMING = re.compile(
    r"(?<!\w)(?:" + normalize("باسم|يدعى|تدعى|اسمه|اسمها|المسمى|المسماة|يسمى|تسمى") + r")(?!\w)"
)
_QUOTED = re.compile(r"[\"“«][^\"”»]{2,}[\"”»]")

# Clause boundaries inside a long Arabic sentence: commas, and "و" starting a clause after a space.
_CLAUSE_CUT = re.compile(r"[،,؛:]\s*")
_LONG_SENTENCE = 220
# A next sentence that opens by pointing back ("وأدى ذلك", "وهذا", "لذلك") continues the quote.
_BACK_REFERENCE = re.compile(
    r"^(?:\S+\s+){0,2}?(?:و|ف|ل)?(?:ذلك|هذا|هذه|هؤلاء|ذاك)(?!\w)|^(?:لذلك|ولذلك|لهذا|ولهذا)(?!\w)"
    # "وأضاف/وأضافت" (he/she added), "وتابع": the same speaker goes on.
    r"|^(?:و|ف)(?:اضاف|اضافت|تابع|تابعت)(?!\w)"
)
_FRAGMENT_WORDS = 8  # content words: fewer, and a "sentence" is a fragment of the one before
_MAX_SENTENCES = 3
_RUNNER_ON = 0.03  # a following sentence this close to the quote's similarity is on topic too
_RANK_COST = 0.02  # per place a sentence's chunk stands below the best one


# News counts people by what happened to them, and a count of one kind does not answer a question
# about another: "how many were injured?" is not answered by "140 were killed" (every blind
# question file had this near miss). Each kind: (English words, Arabic words, normalised).
_CASUALTY_KINDS = [
    (
        re.compile(r"\b(kill|dead|death|die[ds]?\b|dying|fatalit|victim)", re.IGNORECASE),
        re.compile(normalize("قتل|قتيل|مقتل|قتلى|مات|موت|وفاة|وفيات|ضحايا|حتف")),
    ),
    (
        re.compile(r"\b(injur|wound|hurt)", re.IGNORECASE),
        re.compile(normalize("جرح|جريح|جرحى|مصاب|إصاب|أصيب")),
    ),
    (
        re.compile(r"\b(arrest|detain|detention|custody)", re.IGNORECASE),
        re.compile(normalize("اعتقال|اعتقل|معتقل|قبض|احتجاز|محتجز|توقيف|أوقف")),
    ),
    (
        re.compile(r"\bmissing\b", re.IGNORECASE),
        re.compile(normalize("مفقود|فقد")),
    ),
]


def _counts_what_was_asked(norm_text: str, question: str) -> bool:
    """False when the question asks for a count of casualties of one kind (killed, injured,
    arrested, missing) and ``norm_text`` (normalised) mentions none of that kind."""
    norm_question = normalize(question)
    return not any(
        (english.search(question) or arabic.search(norm_question))
        and not (english.search(norm_text) or arabic.search(norm_text))
        for english, arabic in _CASUALTY_KINDS
    )


def answer_type(question: str) -> AnswerType:
    for kind, pattern in _TYPE_PATTERNS:
        if pattern.search(question) or pattern.search(normalize(question)):
            return kind
    return AnswerType.ANY


def satisfies(kind: AnswerType, text: str, question: str) -> bool:
    """Whether ``text`` holds the kind of thing the question asks for (a number, a date, a name)."""
    norm = normalize(text)
    if kind is AnswerType.NUMBER:
        return bool(_NUMBER_WORDS.search(norm)) and _counts_what_was_asked(norm, question)
    if kind is AnswerType.EXACT_DATE:
        return bool(_DAY_DATE.search(norm)) or (
            bool(_MONTH_RE.search(norm)) and bool(re.search(r"\d", norm))
        )
    if kind is AnswerType.DATE:
        return bool(
            _YEAR.search(norm)
            or _MONTH_RE.search(norm)
            or _RELATIVE_TIME.search(norm)
            or _DAY_DATE.search(norm)
        )
    if kind is AnswerType.NAME:
        asked = set(latin_tokens(question))
        return bool(
            _names_something_new(norm, question)
            or _QUOTED.search(text)
            or set(latin_tokens(text)) - asked
        )
    return True


def _names_something_new(norm_text: str, question: str) -> bool:
    """Whether a naming phrase in the text ("المعروف باسم X") names something the question does
    not already: "what is the name of the Khorasan branch's leader?" is not answered by "known
    as Wilayat Khorasan". A name whose first two words include one of the question's words (or,
    by transliteration, one of its Latin names) is the question's own subject."""
    q_words = set(tokenize(question, keep_stopwords=True))
    q_skeletons = {sk for n in name_words(question) for sk in latin_skeletons(n)}
    for m in _NAMING.finditer(norm_text):
        named = norm_text[m.end() :].split()[:2]
        if named and not any(
            set(tokenize(word, keep_stopwords=True)) & q_words
            or any(skeleton_match(sk, ar) for ar in arabic_skeletons(word) for sk in q_skeletons)
            for word in named
        ):
            return True
    return False


@dataclass(frozen=True)
class Quote:
    chunk_id: int
    start: int  # document offsets of the quoted text
    end: int
    score: float


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and (text[s].isspace() or text[s] in "،,؛:.-"):
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _clauses(text: str, s: int, e: int) -> list[tuple[int, int]]:
    spans, pos = [], s
    for m in _CLAUSE_CUT.finditer(text, s, e):
        spans.append(_trim(text, pos, m.start()))
        pos = m.end()
    spans.append(_trim(text, pos, e))
    return [sp for sp in spans if sp[0] < sp[1]]


class Extractor:
    """Chooses what to quote from the retrieved chunks."""

    def __init__(self, retrieval: Retrieval) -> None:
        self.retrieval = retrieval
        index = retrieval.index
        # Every sentence has a vector: its own unit, or its chunk's when the chunk is one sentence.
        self._sentences: dict[int, list[tuple[int, int, int]]] = {}
        for u in index.units:
            chunk = index.chunks[u.chunk_id]
            if u.kind == "sentence" or len(chunk.sentences) == 1:
                self._sentences.setdefault(u.chunk_id, []).append((u.unit_id, u.start, u.end))

    def candidates(
        self, hits: list[Hit], question: str, qvecs: list[np.ndarray], language: str
    ) -> list[Quote]:
        """Sentences of the top chunks, best first: mean similarity to the question's vectors
        (the anchored and the bare follow-up), plus shared Arabic words (for an English
        question, its words' dictionary translations), minus the chunk's distance from the top
        of the ranking, which saw the whole passage."""
        text = self.retrieval.index.document.text
        vectors = self.retrieval.index.vectors
        if language == "ar":
            q_tokens = set(tokenize(question, roots=True))
        else:
            q_tokens = set(self.retrieval.translated_tokens(question))
        qvec = np.mean(qvecs, axis=0)
        out = []
        for rank, hit in enumerate(hits[:3]):
            for uid, s, e in self._sentences.get(hit.chunk_id, []):
                score = float(vectors[uid] @ qvec) - _RANK_COST * rank
                if q_tokens:
                    shared = q_tokens & set(tokenize(text[s:e], roots=True))
                    score += 0.05 * len(shared) / len(q_tokens)
                out.append(Quote(hit.chunk_id, s, e, score))
        return sorted(out, key=lambda q: -q.score)

    def narrow(self, quote: Quote, question: str, kind: AnswerType, language: str) -> Quote:
        """For a question that asks for a number, date or name: the clauses of a long sentence
        that hold it, as a window of up to three clauses sharing most words with the question.
        Other questions keep the whole sentence: which clause holds an open-ended answer cannot
        be told from the words, and a clause that only echoes the question answers nothing."""
        text = self.retrieval.index.document.text
        if kind is AnswerType.ANY or quote.end - quote.start <= _LONG_SENTENCE:
            return quote
        clauses = _clauses(text, quote.start, quote.end)
        q_tokens = set(tokenize(question)) if language == "ar" else set()
        best, best_score = None, 0.0
        for i in range(len(clauses)):
            for j in range(i, min(i + 3, len(clauses))):
                s, e = clauses[i][0], clauses[j][1]
                if not satisfies(kind, text[s:e], question):
                    continue
                score = 1 + len(q_tokens & set(tokenize(text[s:e]))) - 0.002 * (e - s)
                if best is None or score > best_score:
                    best, best_score = (s, e), score
        if best is None:
            return quote
        return Quote(quote.chunk_id, best[0], best[1], quote.score)

    def extend(self, quote: Quote, question: str, qvec: np.ndarray, language: str) -> Quote:
        """The quote plus the sentences after it, while the thought runs on (at most
        ``_MAX_SENTENCES`` in all): the quote breaks off ("يشيرون إلى..."), the next sentence is a
        fragment that completes it ("يدا بيد مع المجندين…"), or it refers back ("وأدى ذلك إلى…")
        and is about the question too (shares its words, or matches it nearly as well)."""
        text = self.retrieval.index.document.text
        vectors = self.retrieval.index.vectors
        q_tokens = set(tokenize(question)) if language == "ar" else set()
        sentences = self._sentences.get(quote.chunk_id, [])
        end, taken = quote.end, 1
        for uid, s, e in sentences:
            if s < end:
                continue
            if taken >= _MAX_SENTENCES:
                break
            nxt = text[s:e]
            relevant = bool(q_tokens & set(tokenize(nxt))) or (
                float(vectors[uid] @ qvec) >= quote.score - _RUNNER_ON
            )
            if not (
                text[quote.start : end].rstrip().endswith(("...", "…", ":"))
                or len(tokenize(nxt)) <= _FRAGMENT_WORDS
                or (_BACK_REFERENCE.match(normalize(nxt)) and relevant)
            ):
                break
            end, taken = e, taken + 1
        return Quote(quote.chunk_id, quote.start, end, quote.score)
