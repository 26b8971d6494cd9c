"""An English→Arabic word list, so that English questions share words with the Arabic article.

No registry carries a translation model, but Debian carries a dictionary: FreeDict's
English-Arabic word list (package ``dict-freedict-eng-ara``, Arabeyes.org, GPL-2+, 87,000
headwords, inflected forms included), in the dictd format. Looking up an English question's
content words there gives Arabic words that BM25 can match against the article, which dense
retrieval with a small multilingual model misses ("affiliates ... regional offices" finds
"الفروع ... المكاتب الإقليمية"). The file is read where Debian installs it, never copied
into sanad; without it, English questions are retrieved by meaning, names and numbers only.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

from index import ConfigError, Settings, normalize

log = logging.getLogger(__name__)

#: Where Debian's ``dict-freedict-eng-ara`` puts the dictionary (``.index`` and ``.dict.dz``).
DEBIAN_LEXICON = "/usr/share/dictd/freedict-eng-ara"

# dictd's offsets and lengths: base 64 in these digits, most significant first.
_B64_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64 = {c: i for i, c in enumerate(_B64_DIGITS)}
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_SENSE_CUT = re.compile(r"[،,;]")
_ARABIC_WORD = re.compile("[\u0621-\u065f\u0670\u0640]+")  # with any diacritics inside
_MAX_SENSES = 3  # an entry's first senses; later ones are rarer and add noise
# Words that say what kind of answer is wanted, not what it is about: their translations
# ("what" → "أي", "get" → "أصبح") would match everywhere or mislead.
_STOPWORDS = frozenset(
    (
        "a an the of in on at to for from by with about into over after before and or but is are "
        "was were be been being do does did done has have had what which who whom whose when "
        "where why how that this these those it its as not no yes than then there their they "
        "them he she his her we you i me my our your us can could would should will shall may "
        "might must according said say says tell told article any some many much more most "
        "other such only also so if get got give gave make made take took one ones s"
    ).split()
)
# Inflections a headword may lack: try the word, then these endings stripped (or replaced).
_ENDINGS = (
    ("'s", ""),
    ("ies", "y"),
    ("es", ""),
    ("s", ""),
    ("ed", ""),
    ("ed", "e"),
    ("ing", ""),
    ("ing", "e"),
)


# Phrasal verbs mean something their words do not: a word-by-word lookup turns "carried out"
# into "محمول ... خارج" (carried ... outside). Each is looked up as a one-word synonym instead.
_PHRASAL = [
    (re.compile(rf"\b(?:{verbs}) {particle}\b"), synonym)
    for verbs, particle, synonym in (
        ("carry|carries|carried|carrying", "out", "execute"),
        ("set|sets|setting", "up", "establish"),
        ("take|takes|took|taken|taking", "place", "occur"),
        ("take|takes|took|taken|taking", "over", "seize"),
        ("find|finds|found|finding", "out", "discover"),
        ("go|goes|went|gone|going", "on", "continue"),
        ("point|points|pointed|pointing", "out", "indicate"),
        ("break|breaks|broke|broken|breaking", "out", "erupt"),
        ("blow|blows|blew|blown|blowing", "up", "explode"),
        ("step|steps|stepped|stepping", "up", "intensify"),
        ("wipe|wipes|wiped|wiping", "out", "destroy"),
    )
]


class LexiconError(ConfigError):
    """The configured dictionary cannot be read; the message says which file and why."""


@dataclass(frozen=True)
class Lexicon:
    """A dictd dictionary held in memory: headword → (offset, length) into the entry text."""

    path: str
    _offsets: dict[str, tuple[int, int]]
    _data: bytes

    def senses(self, word: str) -> list[str]:
        """The Arabic translations of ``word`` (any case), or of its uninflected form."""
        word = word.lower()
        for candidate in _forms(word):
            where = self._offsets.get(candidate)
            if where is None:
                continue
            start, length = where
            entry = self._data[start : start + length].decode("utf-8", "replace")
            # First line: "Headword /pronunciation/"; then the senses, "،"-separated.
            body = entry.split("\n", 1)[1] if "\n" in entry else ""
            found = [s.strip() for s in _SENSE_CUT.split(body) if s.strip()]
            if found:
                return found[:_MAX_SENSES]
        return []

    @property
    def headwords(self) -> dict[str, frozenset[str]]:
        """The reverse dictionary: each Arabic word of a translation (normalised) → the English
        headwords it translates. Its keys are ordinary Arabic vocabulary, and where an Arabic
        word sounds like its headword ("نيوتن" for "newton"), a name's English spelling. Built
        on first use, once per dictionary file for the process."""
        key = (self.path, len(self._data))
        if key not in _HEADWORDS:
            _HEADWORDS[key] = _reverse(self)
        return _HEADWORDS[key]

    def translate(self, question: str) -> list[str]:
        """Arabic words for the content words of an English question, in order."""
        out: list[str] = []
        question = question.lower()
        for pattern, synonym in _PHRASAL:
            question = pattern.sub(synonym, question)
        for word in _WORD.findall(question):
            if word in _STOPWORDS or len(word) < 3:
                continue
            out.extend(self.senses(word))
        return out


_HEADWORDS: dict[tuple[str, int], dict[str, frozenset[str]]] = {}


def _reverse(lexicon: Lexicon) -> dict[str, frozenset[str]]:
    raw: dict[str, set[str]] = {}
    data = lexicon._data
    for head, (start, length) in lexicon._offsets.items():
        entry = data[start : start + length].decode("utf-8", "replace")
        for word in _ARABIC_WORD.findall(entry):
            raw.setdefault(word, set()).add(head)
    out: dict[str, set[str]] = {}
    for word, heads in raw.items():
        out.setdefault(normalize(word), set()).update(heads)
    return {word: frozenset(heads) for word, heads in out.items()}


def uninflected(word: str) -> list[str]:
    """An English word's possible uninflected forms, without the word itself ("teams": team)."""
    return _forms(word.lower())[1:]


def _forms(word: str) -> list[str]:
    forms = [word]
    for ending, replacement in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            forms.append(word[: -len(ending)] + replacement)
    return forms


def _b64(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 64 + _B64[ch]
    return value


def read_dictd(prefix: str | Path) -> Lexicon:
    """Load ``PREFIX.index`` and ``PREFIX.dict.dz`` (or ``PREFIX.dict``)."""
    prefix = str(prefix)
    index_path = Path(prefix + ".index")
    data_path = Path(prefix + ".dict.dz")
    try:
        if data_path.exists():
            # dictzip is gzip with a random-access table in a header field gzip skips.
            with gzip.open(data_path) as f:
                data = f.read()
        else:
            data_path = Path(prefix + ".dict")
            data = data_path.read_bytes()
        offsets: dict[str, tuple[int, int]] = {}
        with index_path.open(encoding="utf-8") as f:
            for line in f:
                head, start, length = line.rstrip("\n").split("\t")
                if head.startswith("00database"):
                    continue
                offsets.setdefault(head.lower(), (_b64(start), _b64(length)))
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise LexiconError(f"cannot read the dictionary {prefix}: {e}") from None
    except (ValueError, KeyError, UnicodeDecodeError):
        raise LexiconError(
            f"{index_path} is not a dictd index (headword, offset, length per line)"
        ) from None
    if not offsets or max(s + n for s, n in offsets.values()) > len(data):
        raise LexiconError(f"{index_path} does not match {data_path}: offsets beyond its end")
    return Lexicon(prefix, offsets, data)


def load_lexicon(settings: Settings) -> Lexicon | None:
    """The dictionary ``settings.lexicon`` names: ``auto`` is Debian's if it is installed,
    ``none`` is no dictionary; a path must load, or the error says why."""
    choice = settings.lexicon.strip()
    if choice.lower() == "none":
        return None
    if choice.lower() == "auto":
        if not Path(DEBIAN_LEXICON + ".index").exists():
            log.warning(
                "no English-Arabic dictionary (Debian package dict-freedict-eng-ara): English "
                "questions are matched by meaning, names and numbers only"
            )
            return None
        choice = DEBIAN_LEXICON
    prefix = choice.removesuffix(".index")
    try:
        st = os.stat(prefix + ".index")
    except OSError:
        return read_dictd(prefix)  # which says why in one line
    # One copy per process, as the embedding model is: every article's Assistant (qa.Documents
    # keeps several) would otherwise read and hold its own. A changed file is read again.
    key = (prefix, st.st_mtime_ns, st.st_size)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = read_dictd(prefix)
        return _shared[key]


_shared: dict[tuple[str, int, int], Lexicon] = {}
_shared_lock = threading.Lock()
