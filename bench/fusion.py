"""Retrieval's fusion weights (``qa.retrieval.Fusion``) on a grid, against the shipped ones.

Run: ``.venv/bin/python bench/fusion.py SET_DIR ...`` with folders of many articles in the
format of ``qa.calibrate`` (e.g. the external xquad-dev and arcd-train sets). Writes the
"Fusion weights" section of bench/RESULTS.md and prints it.

For every answerable question whose evidence a passage holds, the signals retrieval fuses are
measured once per passage (``Retrieval.parts``); each weighting then ranks the passages, and a
question counts when its first passage holds the evidence. The grid's best weights are chosen on
the sets' even-numbered articles and reported on the odd-numbered ones, as ``qa.calibrate`` does
for the decision, and on the packaged article's question files (``tests/data``).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import machine, questions, write_section

from qa import Assistant
from qa.evaluation import holds
from qa.retrieval import Fusion, Parts

GRID = [round(0.01 * i, 2) for i in range(21)]


@dataclass
class Searched:
    lang: str
    group: str  # "even", "odd" or "packaged"
    parts: Parts
    y: np.ndarray  # the passage holds the question's evidence


def _searched(bot: Assistant, texts: list[str], row: dict, group: str) -> Searched | None:
    y = np.array([any(holds(t, e) for e in row.get("evidence") or []) for t in texts])
    if not y.any():
        return None
    retrieval = bot.retrieval
    parts = retrieval.parts(row["question"], retrieval.embed_query(row["question"]), row["lang"])
    return Searched(row["lang"], group, parts, y)


def _texts(bot: Assistant) -> list[str]:
    return [c.text(bot.document.text) for c in bot.index.chunks]


def collect(set_dirs: list[Path]) -> list[Searched]:
    out: list[Searched] = []
    for set_dir in set_dirs:
        rows = [json.loads(line) for line in (set_dir / "questions.jsonl").open(encoding="utf-8")]
        by_doc: dict[str, list[dict]] = {}
        for r in rows:
            if r["kind"] == "answerable":
                by_doc.setdefault(r["document"], []).append(r)
        for doc, doc_rows in sorted(by_doc.items()):
            bot = Assistant(document=set_dir / doc)
            number = int(Path(doc).name.split(".")[0].split("-")[0])
            group = "even" if number % 2 == 0 else "odd"
            texts = _texts(bot)
            out += [s for r in doc_rows if (s := _searched(bot, texts, r, group))]
    packaged = Assistant()
    texts = _texts(packaged)
    for item in questions(answerable_only=True):
        if not item.get("history"):  # a follow-up is searched with its conversation
            out += [s for s in [_searched(packaged, texts, item, "packaged")] if s]
    return out


def hits(searched: list[Searched], fusion: Fusion) -> int:
    return sum(bool(s.y[int(np.argmax(fusion.fuse(s.parts, s.lang)))]) for s in searched)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    load = os.getloadavg()
    searched = collect([Path(a) for a in argv])
    shipped = Fusion()
    grids = {
        "ar": [Fusion(w, shipped.en_names, shipped.en_translated) for w in GRID],
        "en": [Fusion(shipped.ar_lexical, a, b) for a in GRID for b in GRID],
    }
    rows = [
        "| questions | weights | even articles | odd articles | packaged article |",
        "|---|---|---|---|---|",
    ]
    for lang, grid in grids.items():
        group = {
            g: [s for s in searched if s.lang == lang and s.group == g]
            for g in ("even", "odd", "packaged")
        }
        best = max(grid, key=lambda f: (hits(group["even"], f), -sum(_weights(f, lang))))
        for name, fusion in (
            ("shipped", shipped),
            ("best on the even articles", best),
            ("dense only", Fusion(0.0, 0.0, 0.0)),
        ):
            cells = " | ".join(f"{hits(group[g], fusion)}/{len(group[g])}" for g in group)
            weights = ", ".join(f"{w:g}" for w in _weights(fusion, lang))
            rows.append(f"| {lang}, {name} | {weights} | {cells} |")
    body = f"""
{machine(load)} Sets: {", ".join(Path(a).name for a in argv)}.

{chr(10).join(rows)}

Weights: Arabic questions, the larger of BM25 and the names share; English questions, the names
share, then BM25 of the dictionary's translations. A cell counts the questions whose first passage
holds the evidence. Grid: 0 to 0.2 in steps of 0.01; "best" is chosen on the even-numbered
articles (the smaller weights on a tie). The packaged article's files: the answerable questions
of tests/data/dev.jsonl and heldout*.jsonl, follow-ups left out.
"""
    write_section("Fusion weights", body)
    print(body)
    return 0


def _weights(fusion: Fusion, lang: str) -> tuple[float, ...]:
    return (fusion.ar_lexical,) if lang == "ar" else (fusion.en_names, fusion.en_translated)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
