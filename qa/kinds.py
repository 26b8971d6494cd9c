"""What kind of answer a question asks for, and whether a piece of text holds one.

"How many", "when" and "what is the name of" (and their Arabic forms كم، متى، ما اسم) ask for a
number, a date or a name: a sentence that holds none cannot answer them, whatever else it shares
with the question. These are properties of Arabic and English questions, not of one article.
"""

from __future__ import annotations

import re
from enum import Enum

from index import (
    arabic_skeletons,
    latin_skeletons,
    latin_tokens,
    name_words,
    normalize,
    skeleton_match,
    tokenize,
)


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
# Any three- or four-digit number can be a year in an encyclopaedia or a history ("753", "1066");
# centuries are named rather than numbered in Arabic ("القرن الثالث عشر").
_YEAR = re.compile(
    r"(?<!\d)\d{3,4}(?!\d)|" + _PROCLITIC + normalize("(?:قرن|القرون|century|centuries)")
)
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
        # "How many times" (كم مرة) is answered by a count of times, dual included (مرتين).
        "|مرة|مرتين|مرتان|مرات|once|twice"
    )
    + r")(?!\w)"
)
_DIGITS = re.compile(r"\d+")
_NAMING = re.compile(
    r"(?<!\w)(?:" + normalize("باسم|يدعى|تدعى|اسمه|اسمها|المسمى|المسماة|يسمى|تسمى") + r")(?!\w)"
)
_QUOTED = re.compile(r"[\"“«][^\"”»]{2,}[\"”»]")


def answer_type(question: str) -> AnswerType:
    for kind, pattern in _TYPE_PATTERNS:
        if pattern.search(question) or pattern.search(normalize(question)):
            return kind
    return AnswerType.ANY


def _new(pattern: re.Pattern[str], norm_text: str, norm_question: str) -> bool:
    """Whether ``pattern`` finds something in the text that the question does not already say:
    "when did they win before 2000?" is not answered by a sentence whose only year is 2000."""
    asked = {m.group(0).strip() for m in pattern.finditer(norm_question)}
    return any(m.group(0).strip() not in asked for m in pattern.finditer(norm_text))


def satisfies(kind: AnswerType, text: str, question: str) -> bool:
    """Whether ``text`` holds the kind of thing the question asks for (a number, a date, a name)
    beyond what the question itself says."""
    norm, q = normalize(text), normalize(question)
    if kind is AnswerType.NUMBER:
        return _new(_NUMBER_WORDS, norm, q) or _new(_DIGITS, norm, q)
    if kind is AnswerType.EXACT_DATE:
        return _new(_DAY_DATE, norm, q) or (bool(_MONTH_RE.search(norm)) and _new(_DIGITS, norm, q))
    if kind is AnswerType.DATE:
        return any(_new(p, norm, q) for p in (_YEAR, _MONTH_RE, _RELATIVE_TIME, _DAY_DATE))
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
