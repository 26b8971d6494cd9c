"""Sentence-aware chunks of a document, each keeping its character span in the original text.

LangChain's splitters cut on a list of separator strings and lose track of offsets around
Arabic punctuation: they cannot tell that "؟" ends a sentence while the Arabic comma "،" and
semicolon "؛" do not, nor that the "." in "2.5" does not, nor that a mark inside brackets ends
nothing. So sentences are found here, and chunks are packed from whole sentences within a
paragraph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .arabic import has_words, normalize

Span = tuple[int, int]

# A sentence ends at . ! ? ؟ … (possibly repeated, possibly followed by closing quotes or
# brackets) when whitespace or the end of the text follows. "2.5" and "U.S." stay whole. The
# Arabic semicolon "؛" is left out: like ";" in English it joins two clauses of one statement,
# the second most often the first's cause or result ("أرسل إلى الناس؛ ليعيدهم إلى…"), so the
# clause that answers "why" would be cut from the one that names what it explains.
_SENTENCE_END = re.compile(r"""(?:[.!?؟…]+)["'”’»)\]]*(?=\s|$)""")
_OPEN, _CLOSE = "([", ")]"
_PARAGRAPH = re.compile(r"[^\n]+")


@dataclass(frozen=True)
class Chunk:
    chunk_id: int
    start: int
    end: int
    paragraph: int  # index of the paragraph it comes from
    sentences: tuple[Span, ...]  # document offsets of the sentences it holds

    def text(self, document: str) -> str:
        return document[self.start : self.end]


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _open_brackets(text: str) -> int:
    return sum(text.count(c) for c in _OPEN) - sum(text.count(c) for c in _CLOSE)


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Spans of the sentences in ``text[start:end]``, as offsets into ``text``. A mark inside
    brackets that close later in the span ends no sentence: "(ولد عام 1900؟ أو 1901)" is an
    aside of the sentence around it."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    pos = start
    marks = list(_SENTENCE_END.finditer(text, start, end))
    # The bracket balance from ``start`` at each mark, and the lowest it falls to after it: a
    # mark inside brackets is skipped when they close at a later mark (or at the span's end).
    depth, last = [], start
    for m in marks:
        depth.append((depth[-1] if depth else 0) + _open_brackets(text[last : m.end()]))
        last = m.end()
    lowest_after = [0] * len(marks)
    low = (depth[-1] if depth else 0) + _open_brackets(text[last:end])
    for k in range(len(marks) - 1, -1, -1):
        lowest_after[k] = low
        low = min(low, depth[k])
    at_pos = 0
    for k, m in enumerate(marks):
        if depth[k] > at_pos and lowest_after[k] <= at_pos:
            continue
        at_pos = depth[k]
        s, e = _trim(text, pos, m.end())
        if has_words(text[s:e]):
            spans.append((s, e))
        elif spans and s < e:  # stray punctuation (". .") belongs to the sentence before it
            spans[-1] = (spans[-1][0], e)
        pos = m.end()
    s, e = _trim(text, pos, end)
    if s < e:
        if has_words(text[s:e]):
            spans.append((s, e))
        elif spans:
            spans[-1] = (spans[-1][0], e)
    return spans


def _split_long(text: str, span: Span, limit: int) -> list[Span]:
    """Cut a sentence longer than ``limit`` at commas (Arabic or Latin), else at spaces."""
    s, e = span
    out: list[Span] = []
    while e - s > limit:
        window = text[s : s + limit]
        cut = max(window.rfind("،"), window.rfind(","), window.rfind("؛"))
        if cut < limit // 3:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit - 1
        a, b = _trim(text, s, s + cut + 1)
        if a < b:
            out.append((a, b))
        s = _trim(text, s + cut + 1, e)[0]
    if s < e:
        out.append((s, e))
    return out


def chunk_document(text: str, chunk_chars: int = 600) -> list[Chunk]:
    """Chunks of whole sentences, never crossing a paragraph, at most ``chunk_chars`` long
    (a single longer sentence is cut at a comma). A paragraph that repeats an earlier one word
    for word (after normalisation) is left out, so it cannot crowd out other passages."""
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for para_no, m in enumerate(_PARAGRAPH.finditer(text)):
        p_start, p_end = _trim(text, m.start(), m.end())
        if p_start >= p_end or not has_words(text[p_start:p_end]):
            continue
        key = " ".join(normalize(text[p_start:p_end]).split())
        if key in seen:
            continue
        seen.add(key)
        sentences: list[Span] = []
        for span in split_sentences(text, p_start, p_end):
            sentences.extend(_split_long(text, span, chunk_chars))
        group: list[Span] = []
        for span in sentences:
            if group and span[1] - group[0][0] > chunk_chars:
                chunks.append(_make(len(chunks), para_no, group))
                group = []
            group.append(span)
        if group:
            chunks.append(_make(len(chunks), para_no, group))
    return chunks


def _make(chunk_id: int, paragraph: int, group: list[Span]) -> Chunk:
    return Chunk(chunk_id, group[0][0], group[-1][1], paragraph, tuple(group))
