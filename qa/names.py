"""English names for the places an Arabic quote mentions, so an English reader can follow it.

No offline translator exists for the article, but place names need no translation, only a
dictionary: CLDR (through Babel) names every country and world region in Arabic and English.
Only names found in the quoted text are given, so nothing is added that the article does not say.
"""

from __future__ import annotations

import re
from functools import cache

from babel import Locale

from index import normalize

# Arabic writes "and"/"so", then "in/with", "to" or "like", then "the" onto the following word
# ("وبفرنسا", "وللعراق").
_PROCLITIC = r"(?:و|ف)?(?:ب|ل|ك)?(?:ال|ل)?"


@cache
def _gazetteer() -> tuple[re.Pattern[str], dict[str, str]]:
    arabic, english = Locale("ar").territories, Locale("en").territories
    names: dict[str, str] = {}
    for code, ar_name in arabic.items():
        en_name = english.get(code)
        # "001" is the world ("العالم"), an everyday word rather than a place name.
        if not en_name or code == "001":
            continue
        key = " ".join(normalize(ar_name).split())
        names.setdefault(key, en_name)
        # "الولايات المتحدة" is written after a proclitic as "والولايات المتحدة"; the pattern's
        # optional "ال" needs the bare form too.
        if key.startswith("ال") and len(key) > 4:
            names.setdefault(key[2:], en_name)
    # Longest first, so "جنوب آسيا" (Southern Asia) wins over "آسيا" (Asia).
    alternatives = sorted(names, key=len, reverse=True)
    pattern = re.compile(
        r"(?<!\w)" + _PROCLITIC + "(" + "|".join(re.escape(a) for a in alternatives) + r")(?!\w)"
    )
    return pattern, names


def place_names(text: str) -> list[str]:
    """English names of the countries and regions ``text`` mentions, in order, once each."""
    pattern, names = _gazetteer()
    out: list[str] = []
    for m in pattern.finditer(" ".join(normalize(text).split())):
        name = names[m.group(1)]
        if name not in out:
            out.append(name)
    return out
