"""``sanad eval FILE.jsonl``: the real pipeline on a question file, scored.

A line of the file: ``{"id", "lang", "question", "evidence": [str], "answer_any": [[str]],
"answerable": bool, "history": [str | {role, content}]}``. Evidence is found when it appears, after
Arabic normalisation, in a returned source; the answer keywords match when every group has one
alternative in the answer.
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
    kind: str  # "single", "follow-up" or "unanswerable"
    question: str
    answerable: bool
    abstained: bool
    rank: int | None  # 1-based rank of the first source holding the evidence
    cited_evidence: bool | None  # the answer cites a source holding the evidence
    keywords: bool | None
    answer_language_ok: bool
    seconds: float
    answer: str


def _squash(text: str) -> str:
    return " ".join(normalize(text).split())


def _has(haystack: str, needle: str) -> bool:
    return _squash(needle) in _squash(haystack)


def load_questions(path: Path) -> list[dict[str, Any]]:
    items = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise QuestionError(f"{path}:{n}: not JSON ({e.msg})") from None
    return items


def _frame_language(answer: str) -> str:
    """The language of the answer's own words, leaving out the quoted article text."""
    return detect_language(re.sub(r"«[^»]*»", " ", answer))


def run(bot: Assistant, items: Iterable[dict[str, Any]]) -> list[Row]:
    rows = []
    for item in items:
        history = item.get("history") or []
        t0 = time.perf_counter()
        a = bot.ask(item["question"], history)
        seconds = time.perf_counter() - t0
        evidence = item.get("evidence") or []
        rank = (
            next(
                (i for i, s in enumerate(a.sources, 1) if any(_has(s.text, ev) for ev in evidence)),
                None,
            )
            if evidence
            else None
        )
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", a.answer)}
        cited_ok = (
            any(
                _has(a.sources[n - 1].text, ev)
                for n in cited
                if 0 < n <= len(a.sources)
                for ev in evidence
            )
            if evidence and not a.abstained
            else None
        )
        groups = item.get("answer_any") or []
        keywords = (
            all(any(_has(a.answer, alt) for alt in group) for group in groups) if groups else None
        )
        answerable = bool(item.get("answerable", True))
        rows.append(
            Row(
                id=str(item.get("id", len(rows) + 1)),
                lang=item.get("lang") or detect_language(item["question"]),
                kind="unanswerable" if not answerable else ("follow-up" if history else "single"),
                question=item["question"],
                answerable=answerable,
                abstained=a.abstained,
                rank=rank,
                cited_evidence=cited_ok,
                keywords=keywords,
                answer_language_ok=_frame_language(a.answer)
                == a.language
                == (item.get("lang") or a.language),
                seconds=seconds,
                answer=a.answer,
            )
        )
    return rows


def _pct(n: int, d: int) -> str:
    return f"{n}/{d} ({100 * n / d:.0f}%)" if d else "-"


def summarise(rows: list[Row]) -> str:
    """The eval table, as Markdown."""
    lines = [
        "| group | n | hit@1 | hit@3 | MRR | keywords | cites evidence | language ok |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[str, list[Row]] = {}
    for r in rows:
        if r.answerable:
            groups.setdefault(f"{r.lang}", []).append(r)
            groups.setdefault(f"{r.lang} {r.kind}", []).append(r)
            groups.setdefault("all answerable", []).append(r)
    for name in sorted(groups, key=lambda g: (g != "all answerable", g)):
        rs = groups[name]
        n = len(rs)
        hit1 = sum(1 for r in rs if r.rank == 1)
        hit3 = sum(1 for r in rs if r.rank is not None and r.rank <= 3)
        mrr = sum(1 / r.rank for r in rs if r.rank) / n
        kw = [r for r in rs if r.keywords is not None]
        cited = [r for r in rs if r.cited_evidence is not None]
        lines.append(
            f"| {name} | {n} | {_pct(hit1, n)} | {_pct(hit3, n)} | {mrr:.3f} | "
            f"{_pct(sum(r.keywords for r in kw), len(kw))} | "
            f"{_pct(sum(r.cited_evidence for r in cited), len(cited))} | "
            f"{_pct(sum(r.answer_language_ok for r in rs), n)} |"
        )
    unans = [r for r in rows if not r.answerable]
    ans = [r for r in rows if r.answerable]
    secs = sorted(r.seconds for r in rows)
    p95 = secs[min(len(secs) - 1, int(0.95 * len(secs)))] if secs else 0.0
    lines += [
        "",
        f"abstained on unanswerable: {_pct(sum(r.abstained for r in unans), len(unans))}; "
        f"false abstentions: {_pct(sum(r.abstained for r in ans), len(ans))}",
        f"latency: p50 {1000 * statistics.median(secs) if secs else 0:.0f} ms, "
        f"p95 {1000 * p95:.0f} ms over {len(rows)} questions",
    ]
    return "\n".join(lines)


def write_rows(rows: list[Row], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")
