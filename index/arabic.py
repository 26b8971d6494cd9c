"""Arabic-aware text handling for *matching only*: what sanad shows is always the original text.

Arabic spells one word many ways (hamza on alef or not, final yaa or alef maqsura, taa marbuta or
haa, optional diacritics and tatweel, Arabic-Indic or Western digits), and web text carries
invisible bidi marks. Generic normalisers (NFKC, lower-casing) handle none of that, so questions
and passages go through the same ``normalize`` before they are compared.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_INVISIBLE = re.compile("[\u00ad\u061c\u0640\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_LETTER_MAP = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # Extended (Persian) digits
    }
)
_ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3]")
_LATIN_LETTER = re.compile("[A-Za-z]")
# Runs of one script each: "وISWAP" is the conjunction و plus the name ISWAP.
_TOKEN = re.compile(
    r"[\u0621-\u064a\u066e-\u06d3\u06fa-\u06ff]+|[A-Za-z\u00c0-\u024f]+|\d+|[^\W_]+"
)

# Proclitics and suffixes of a light stemmer (after Larkey et al.'s light10): enough to let
# "والمسؤولون" match "المسؤولين" in BM25 without a morphological analyser.
_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال", "و")
_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "يا", "ه", "ي")

_STOPWORDS_AR_RAW = (
    "في من على الى إلى عن أن ان إن لا ما هو هي هم كان كانت التي الذي الذين هذا هذه ذلك تلك "
    "مع بين عند كل قد لم لن ثم أو بل حيث كما منذ وقد وفي وهو وكان قبل بعد أي كيف متى "
    "أين ماذا لماذا هل كم ومن وما هناك حتى عبر ضد دون غير لدى لها له"
)
_STOPWORDS_EN = frozenset(
    (
        "a an the of in on at to for from by with about into over after before and or but is "
        "are was were be been being do does did has have had what which who whom whose when "
        "where why how that this these those it its as not no than then there their they them "
        "he she his her we you i me my our your can could would should will shall may might "
        "must according said say says tell article"
    ).split()
)


def normalize(text: str) -> str:
    """Fold the spelling variants of Arabic (and the case of Latin) so equal words compare equal."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _DIACRITICS.sub("", text)
    return text.translate(_LETTER_MAP).lower()


_STOPWORDS_AR = frozenset(normalize(w) for w in _STOPWORDS_AR_RAW.split())


def _light_stem(word: str) -> str:
    for p in _PREFIXES:
        if word.startswith(p) and len(word) - len(p) >= 3:
            word = word[len(p) :]
            break
    for s in _SUFFIXES:
        if word.endswith(s) and len(word) - len(s) >= 3:
            word = word[: -len(s)]
            break
    return word


def _root(stem: str) -> str:
    """A rough consonantal root of a light stem: Arabic derives words from roots by pattern
    letters (a leading ت/م/ي, long vowels inside, a past-tense ت at the end), so "تنفيذ" (the
    carrying out) and "نفذ" (carried out) share "نفذ" while their light stems differ."""
    if len(stem) >= 5 and stem[0] in "تمي":
        stem = stem[1:]
    if len(stem) >= 4:
        stem = stem[0] + re.sub("[اوي]", "", stem[1:-1]) + stem[-1]
    if len(stem) >= 4 and stem.endswith("ت"):
        stem = stem[:-1]
    return stem


def without_tanween_alef(word: str) -> str:
    """A normalised word without the alef that carries the accusative tanween ("شمالاً" →
    "شمال"); a word of three letters keeps it, as its alef is more likely its own ("بدا")."""
    return word[:-1] if len(word) >= 4 and word.endswith("ا") else word


def loose_root(root: str) -> str:
    """A looser key for a rough root, for a matching signal that is weighed, not for search: an
    imperfect verb's person prefix (يحد، تحد "borders") and the alef that carries the accusative
    tanween (شمالاً against الشمال) are not part of the word, but the light stemmer keeps them
    because it cannot tell them from a stem's own first or last letter."""
    root = without_tanween_alef(root)
    if (len(root) >= 3 and root[0] in "يتن") or (len(root) >= 4 and root[0] == "ا"):
        root = root[1:]
    return root


def tokenize(text: str, *, keep_stopwords: bool = False, roots: bool = False) -> list[str]:
    """Normalised, lightly stemmed word tokens for lexical matching; with ``roots``, Arabic
    tokens are reduced further to their rough root (what BM25 ranks with)."""
    out: list[str] = []
    for tok in _TOKEN.findall(normalize(text)):
        if not keep_stopwords and (tok in _STOPWORDS_AR or tok in _STOPWORDS_EN):
            continue
        if _ARABIC_LETTER.match(tok):
            tok = _light_stem(tok)
            if roots:
                tok = _root(tok)
        out.append(tok)
    return out


def latin_tokens(text: str) -> list[str]:
    """The Latin-script content words of ``text`` (names like "Long War Journal", "ISWAP")."""
    return [
        t
        for t in _TOKEN.findall(normalize(text))
        if _LATIN_LETTER.match(t) and t not in _STOPWORDS_EN and len(t) > 1
    ]


def detect_language(text: str) -> Literal["ar", "en"]:
    """The language a question is asked in.

    Counting letters alone misjudges "Who is كاليب فايس?" (a name quoted in Arabic script inside
    an English question), so words count, and function words, which carry the language, count
    three times.
    """
    ar = en = 0
    for tok in _TOKEN.findall(normalize(text)):
        if _ARABIC_LETTER.match(tok):
            ar += 3 if tok in _STOPWORDS_AR else 1
        elif _LATIN_LETTER.match(tok):
            en += 3 if tok in _STOPWORDS_EN else 1
    return "en" if en > ar else "ar"


def has_words(text: str) -> bool:
    """True when ``text`` holds at least one letter or digit (not just emoji or punctuation)."""
    return bool(_TOKEN.search(text))


# --- Transliterated names ---------------------------------------------------------------------
# An English question names people and places in Latin script ("Caleb Weiss", "Khorasan"); the
# article spells them in Arabic script ("كاليب فايس", "خراسان"), and a small multilingual encoder
# often misses the link. Both spellings are reduced to a consonant skeleton over coarse sound
# classes (Arabic has no p or v, writes most vowels not at all, and renders g, k and q alike), so
# equal names get equal skeletons.
_AR_SOUND = str.maketrans(
    {
        "ب": "b",
        "ت": "t",
        "ث": "t",
        "ط": "t",
        "د": "d",
        "ذ": "d",
        "ض": "d",
        "ظ": "d",
        "ج": "k",
        "ك": "k",
        "ق": "k",
        "خ": "k",
        "غ": "k",
        "ه": "h",
        "ح": "h",
        "س": "s",
        "ص": "s",
        "ش": "s",
        "ز": "s",
        "ف": "f",
        "ل": "l",
        "ر": "r",
        "م": "m",
        "ن": "n",
    }
)
_AR_SILENT = re.compile("[اأإآٱىيوعءئؤة]")
_LATIN_DIGRAPHS = (
    ("kh", "k"),
    ("gh", "k"),
    ("sh", "s"),
    ("ch", "s"),
    ("th", "t"),
    ("dh", "d"),
    ("ph", "f"),
    ("ck", "k"),
    ("ng", "n"),
)
_LATIN_SOUND = str.maketrans(
    {"p": "b", "v": "f", "z": "s", "x": "s", "j": "k", "g": "k", "q": "k", "c": "k"}
)
_AR_PROCLITICS = ("وال", "بال", "فال", "كال", "لل", "ال", "و", "ب", "ل")
# Two-consonant skeletons ("st", "rs") match too many ordinary Arabic words to be evidence.
_MIN_SKELETON = 3


def _squeeze(s: str) -> str:
    return re.sub(r"(.)\1+", r"\1", s)


def latin_skeletons(word: str) -> set[str]:
    """Skeletons of a Latin-script name; "w" is tried both as a vowel (Moscow) and as f/v
    (Weiss, as German names are written in Arabic), a French silent ending as "eh"."""
    w = normalize(word)
    for a, b in _LATIN_DIGRAPHS:
        w = w.replace(a, b)
    w = re.sub(r"c(?=[eiy])", "s", w).translate(_LATIN_SOUND)
    forms = [w]
    # French names end in a silent consonant after "e" ("Foucher", "Olivier", "Fouquet"), which
    # Arabic writes as a final "يه" (فوشيه): the ending is tried as "eh" too.
    m = re.fullmatch(r"(.{3,})e[rtz]", w)
    if m:
        forms.append(m.group(1) + "eh")
    out = set()
    for variant in [v for f in forms for v in (f.replace("w", ""), f.replace("w", "f"))]:
        skeleton = _squeeze(re.sub(r"[aeiouy]|[^a-z]", "", variant))
        if len(skeleton) >= _MIN_SKELETON:
            out.add(skeleton)
    return out


def arabic_skeletons(word: str) -> set[str]:
    """Skeletons of an Arabic word, with and without an attached proclitic (و، ب، ل، ال).
    Punctuation stuck to the word ("فوشيه،") is not part of it."""
    w = re.sub(r"\W", "", normalize(word))
    forms = {w} | {w[len(p) :] for p in _AR_PROCLITICS if w.startswith(p) and len(w) - len(p) >= 3}
    # normalize() folds a final taa marbuta into haa, which is silent in a name (غزة, Gaza).
    forms |= {f[:-1] for f in forms if f.endswith("ه")}
    out = set()
    for f in forms:
        skeleton = _squeeze(_AR_SILENT.sub("", f).translate(_AR_SOUND))
        if len(skeleton) >= _MIN_SKELETON and skeleton.isascii() and skeleton.isalpha():
            out.add(skeleton)
    return out


def name_words(question: str) -> list[str]:
    """Capitalised Latin words of a question that are not function words: the names in it."""
    words = re.findall(r"\b[A-Z][A-Za-z'-]+\b", question)
    return [w for w in words if w.lower() not in _STOPWORDS_EN]


def skeleton_match(a: str, b: str) -> bool:
    """Equal skeletons, or one edit apart when both are long enough for that to be telling."""
    if a == b:
        return True
    if min(len(a), len(b)) < 5 or abs(len(a) - len(b)) > 1:
        return False
    # One substitution, insertion or deletion.
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))
