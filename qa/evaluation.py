"""``sanad eval FILE.jsonl``: the real pipeline on a question file, scored.

A line of the file: ``{"id", "lang", "question", "evidence": [str], "answer_any": [[str]],
"answerable": bool, "history": [str | {role, content}]}``, and optionally ``"document"`` (an
article's path, relative to the file: one index per article; without it, the assistant's own
article) and ``"kind"`` (``answerable``, ``other-article``, ``paragraph-removed``; without it,
``answerable`` or ``unanswerable`` from ``answerable``). Evidence is found when it appears in a
returned source; the answer holds the gold when every ``answer_any`` group has one alternative in
the answer. Text is compared as the evaluation collection's ``score.py`` compares it: Arabic letters
and digits folded, diacritics and punctuation dropped.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from index import detect_language, normalize

from .assistant import Assistant
from .errors import QuestionError


@dataclass
class Row:
    id: str
    lang: str
    kind: str  # "answerable", "unanswerable", "other-article" or "paragraph-removed"
    follow_up: bool
    document: str | None
    question: str
    answerable: bool
    abstained: bool
    rank: int | None  # 1-based rank of the first source holding the evidence
    cited_evidence: bool | None  # the answer cites a source holding the evidence
    keywords: bool | None  # the answer holds the gold answer
    answer_language_ok: bool
    chars: int
    seconds: float
    answer: str
    confidence: float | None


def match_form(text: str) -> str:
    """Text as answers are compared: normalised, punctuation dropped, spaces squeezed."""
    return " ".join(re.sub(r"[^\w\s]", " ", normalize(text)).split())


def holds(haystack: str, needle: str) -> bool:
    n = match_form(needle)
    return bool(n) and n in match_form(haystack)


def holds_gold(answer: str, groups: list[list[str]]) -> bool:
    """Every group of alternatives has one in ``answer``."""
    return bool(groups) and all(any(holds(answer, alt) for alt in g) for g in groups)


def load_questions(path: Path) -> list[dict[str, Any]]:
    items = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as e:
                    raise QuestionError(f"{path}:{n}: not JSON ({e.msg})") from None
                if not isinstance(item, dict) or not isinstance(item.get("question"), str):
                    raise QuestionError(f"{path}:{n}: not an object with a question")
                if item.get("document") is not None:
                    item["document"] = str((path.parent / item["document"]).resolve())
                items.append(item)
    return items


def _frame_language(answer: str) -> str:
    """The language of the answer's own words, leaving out the quoted article text."""
    return detect_language(re.sub(r"«[^»]*»", " ", answer))


def _kind(item: dict[str, Any]) -> str:
    if item.get("kind"):
        return str(item["kind"])
    return "answerable" if item.get("answerable", True) else "unanswerable"


def run(bot: Assistant, items: Iterable[dict[str, Any]]) -> list[Row]:
    """Every question through ``bot``, or through an assistant on the row's own document
    (sharing ``bot``'s settings and index folder)."""
    bots: dict[str | None, Assistant] = {None: bot}
    rows = []
    for item in items:
        doc = item.get("document")
        if doc not in bots:
            bots.clear()  # one article's index in memory at a time
            bots[None] = bot
            bots[doc] = Assistant(bot.settings.replace(document=Path(doc)))
        rows.append(_score(bots[doc], item))
    return rows


def _score(bot: Assistant, item: dict[str, Any]) -> Row:
    history = item.get("history") or []
    t0 = time.perf_counter()
    a = bot.ask(item["question"], history)
    seconds = time.perf_counter() - t0
    evidence = item.get("evidence") or []
    rank = next(
        (i for i, s in enumerate(a.sources, 1) if any(holds(s.text, ev) for ev in evidence)),
        None,
    )
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", a.answer)}
    cited_ok = (
        any(
            holds(a.sources[n - 1].text, ev)
            for n in cited
            if 0 < n <= len(a.sources)
            for ev in evidence
        )
        if evidence and not a.abstained
        else None
    )
    groups = item.get("answer_any") or []
    answerable = bool(item.get("answerable", True))
    lang = item.get("lang") or detect_language(item["question"])
    return Row(
        id=str(item.get("id", "")),
        lang=lang,
        kind=_kind(item),
        follow_up=bool(history),
        document=Path(item["document"]).name if item.get("document") else None,
        question=item["question"],
        answerable=answerable,
        abstained=a.abstained,
        rank=rank,
        cited_evidence=cited_ok,
        keywords=holds_gold(a.answer, groups) and not a.abstained if groups else None,
        answer_language_ok=_frame_language(a.answer) == a.language == lang,
        chars=len(a.answer),
        seconds=seconds,
        answer=a.answer,
        confidence=a.confidence,
    )


def _pct(n: int, d: int) -> str:
    return f"{n}/{d} ({100 * n / d:.0f}%)" if d else "-"


def summarise(rows: list[Row]) -> str:
    """The eval tables, as Markdown: answerable questions per language (and follow-ups), then
    how often each kind of unanswerable question was refused."""
    lines = [
        "| answerable | n | hit@1 | hit@3 | MRR | holds the gold | cites evidence "
        "| language ok | false abstentions | chars p50 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[str, list[Row]] = {}
    for r in rows:
        if r.answerable:
            groups.setdefault("all", []).append(r)
            groups.setdefault(r.lang, []).append(r)
            if r.follow_up:
                groups.setdefault(f"{r.lang} follow-up", []).append(r)
    for name in sorted(groups, key=lambda g: (g != "all", g)):
        rs = groups[name]
        n = len(rs)
        hit1 = sum(1 for r in rs if r.rank == 1)
        hit3 = sum(1 for r in rs if r.rank is not None and r.rank <= 3)
        mrr = sum(1 / r.rank for r in rs if r.rank) / n
        kw = [r for r in rs if r.keywords is not None]
        cited = [r for r in rs if r.cited_evidence is not None]
        answered = [r.chars for r in rs if not r.abstained]
        lines.append(
            f"| {name} | {n} | {_pct(hit1, n)} | {_pct(hit3, n)} | {mrr:.3f} | "
            f"{_pct(sum(bool(r.keywords) for r in kw), len(kw))} | "
            f"{_pct(sum(bool(r.cited_evidence) for r in cited), len(cited))} | "
            f"{_pct(sum(r.answer_language_ok for r in rs), n)} | "
            f"{_pct(sum(r.abstained for r in rs), n)} | "
            f"{statistics.median(answered) if answered else '-'} |"
        )
    unanswerable: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        if not r.answerable:
            unanswerable.setdefault((r.kind, r.lang), []).append(r)
    if unanswerable:
        lines += ["", "| unanswerable | lang | n | abstained |", "|---|---|---|---|"]
        for (kind, lang), rs in sorted(unanswerable.items()):
            lines.append(
                f"| {kind} | {lang} | {len(rs)} | {_pct(sum(r.abstained for r in rs), len(rs))} |"
            )
    secs = sorted(r.seconds for r in rows)
    p95 = secs[min(len(secs) - 1, int(0.95 * len(secs)))] if secs else 0.0
    lines += [
        "",
        f"latency: p50 {1000 * statistics.median(secs) if secs else 0:.0f} ms, "
        f"p95 {1000 * p95:.0f} ms over {len(rows)} questions",
    ]
    return "\n".join(lines)


def write_rows(rows: list[Row], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")
