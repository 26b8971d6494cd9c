"""Conversation history in, a standalone retrieval query out.

Without an LLM a follow-up cannot be rewritten, but it can be anchored: a question that leans on
the conversation ("Where were the suspects from?", "وما هو منصبه الآن؟") is searched together with
the previous question, which names what it is about. A question that stands on its own is
searched alone, so an earlier topic cannot drag retrieval away from a new one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from index import normalize, tokenize

from .errors import HistoryError

Message = dict[str, str]

# A question leans on the conversation only when it cannot stand alone: it refers back with a
# pronoun or a demonstrative that it does not resolve itself, opens by continuing the previous
# turn ("and…", "و…"), or has no subject of its own (one content word at most: "Why?", "متى؟").
# A question with its own subject ("What did France do after the attack?") is searched alone,
# in either language, so an earlier topic cannot drag retrieval away from a new one.
_PRONOUN_EN = re.compile(
    r"\b(?:it|its|itself|he|him|his|himself|she|her|hers|herself|they|them|their|theirs"
    r"|themselves|this|these|those|the same)\b"
    # "that", "there" and "then" are also a conjunction, an existential and a connective; they
    # point back only where they end the question ("What caused that?", "What happened there?").
    r"|\b(?:that|there|then)\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_LEAD_EN = re.compile(r"^\s*(?:and|so|also|but|then)\b", re.IGNORECASE)
# A capitalised word before the pronoun, other than the first word, names what it refers to:
# "What did Avril Haines say about her job?" resolves "her" itself.
_NAME_EN = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-Z][\w'-]+")
# Not هو/هي/هم: in "من هو …؟" and "ما هي …؟" they are the copula, not a reference back.
_ANAPHORA_AR = frozenset(normalize(w) for w in "ذلك هذا هذه تلك هناك هؤلاء هنالك".split())
# An Arabic word ending in an attached pronoun (منصبه, زعيمها, قادتهم); ة is excluded by
# checking the original spelling, since normalisation folds ة into ه.
_PRONOUN_SUFFIX_AR = re.compile(r"[\u0621-\u064a]{2,}(?:ه|ها|هم|هما)$")
# و or ف before a question word continues the previous turn ("وما هو منصبه؟", "فمتى؟").
_FOLLOWUP_LEAD_AR = re.compile(r"^[وف](?:ما|من|متى|اين|أين|كم|كيف|لماذا|هل|ماذا|أي|اي|إلى|الى)")
_FEW_CONTENT_WORDS = 1


def normalise_history(history: Sequence[Any] | None) -> list[Message]:
    """Accept ``[{"role", "content"}, ...]`` (OpenAI/Gradio messages) or plain strings (earlier
    user questions, as in the eval files); return role/content dicts."""
    if history is None:
        return []
    if isinstance(history, str | bytes) or not isinstance(history, Sequence):
        raise HistoryError("history must be a list of messages")
    out: list[Message] = []
    for i, m in enumerate(history):
        if isinstance(m, str):
            out.append({"role": "user", "content": m})
        elif isinstance(m, dict) and isinstance(m.get("content"), str):
            role = m.get("role", "user")
            if role not in ("user", "assistant", "system"):
                raise HistoryError(f"history[{i}] has an unknown role {role!r}")
            out.append({"role": role, "content": m["content"]})
        else:
            raise HistoryError(f"history[{i}] must be a string or a {{role, content}} object")
    return out


def is_followup(question: str) -> bool:
    """Whether ``question`` needs the conversation to be understood (see the comment above)."""
    if _LEAD_EN.match(question):
        return True
    m = _PRONOUN_EN.search(question)
    if m and not _NAME_EN.search(question[: m.start()]):
        return True
    words = question.strip().split()
    if words and _FOLLOWUP_LEAD_AR.match(words[0]):
        return True
    for w in words:
        bare = w.strip("؟?.!،,:؛\"'«»()")
        if normalize(bare) in _ANAPHORA_AR or (
            _PRONOUN_SUFFIX_AR.search(bare) and not bare.endswith("ة")
        ):
            return True
    return len(tokenize(question)) <= _FEW_CONTENT_WORDS


def standalone_query(question: str, history: list[Message]) -> str:
    """The text to search with: the question, anchored to the previous one if it is a follow-up."""
    previous = [m["content"] for m in history if m["role"] == "user" and m["content"].strip()]
    if not previous or not is_followup(question):
        return question
    return f"{previous[-1].strip()} {question.strip()}"
