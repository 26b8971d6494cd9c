"""Fit the answer decision's weights and threshold: ``python -m qa.calibrate SET_DIR ...``.

Each SET_DIR holds a ``questions.jsonl`` of many articles (the format of sanad's external
evaluation sets: a ``document`` path relative to the folder, a ``kind`` of ``answerable``,
``other-article`` or ``paragraph-removed``, and for answerable rows the gold answer in
``answer_any``). Every question runs through the real retrieval, one index per article, and every
candidate sentence the decision would weigh is labelled: does it hold the gold answer? For
unanswerable questions none does.

Articles are split in two by their number: the even-numbered ones (with their
paragraph-removed variants) are fitted on, the odd-numbered ones are only reported on, so the
figures printed are for articles the weights never saw. A logistic regression per question
language is fitted on the candidates; the threshold is the highest probability at which at most
``--max-false-abstain`` of the fitted half's answerable questions are refused. The weights, the
threshold, the trade-off curve and a SHA-256 of each question file go to ``qa/data/decision.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .assistant import Assistant
from .decision import (
    FEATURES,
    JUDGE_FEATURES,
    MODEL_FILE,
    Calibration,
    DecisionModel,
    Logistic,
    judge_features,
    quoted,
)
from .evaluation import holds_gold

_HERE = Path(__file__).parent
# Bump when a signal is computed differently, so saved signals are collected again.
_SIGNALS_VERSION = 5


@dataclass
class Question:
    id: str
    lang: str
    kind: str
    article: int
    X: np.ndarray  # candidates x features
    y: np.ndarray  # candidate holds the gold answer
    sentence: np.ndarray  # the candidate's sentence and passage, to find its neighbours
    chunk: np.ndarray
    span: np.ndarray  # candidates x (start, end) in the document


def _article(document: str) -> int:
    return int(Path(document).name.split("-")[0].split(".")[0])


class _Collector(Assistant):
    """The real pipeline up to the decision's signals: the weights being fitted are not read."""

    @staticmethod
    def _decision_model() -> DecisionModel | None:
        return None


def collect(set_dir: Path, index_dir: Path) -> list[Question]:
    """Every question of ``set_dir`` through the real pipeline, candidates labelled."""
    rows = [
        json.loads(line)
        for line in (set_dir / "questions.jsonl").read_text("utf-8").splitlines()
        if line.strip()
    ]
    by_doc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_doc[r["document"]].append(r)
    out = []
    for n, doc in enumerate(sorted(by_doc), 1):
        bot = _Collector(document=set_dir / doc, index_dir=index_dir)
        text = bot.document.text
        for r in by_doc[doc]:
            question, language, _, retrieved = bot.retrieve(r["question"], r.get("history"))
            cands = bot.decider.candidates(question, language, retrieved)
            gold = r.get("answer_any") or []
            answerable = r["kind"] == "answerable"
            out.append(
                Question(
                    r["id"],
                    r["lang"],
                    r["kind"],
                    _article(doc),
                    np.stack([c.features for c in cands]),
                    np.array(
                        [answerable and holds_gold(text[c.start : c.end], gold) for c in cands]
                    ),
                    np.array([c.sentence for c in cands]),
                    np.array([c.chunk_id for c in cands]),
                    np.array([(c.start, c.end) for c in cands]),
                )
            )
        print(f"{set_dir.name}: {n}/{len(by_doc)} {doc}", file=sys.stderr, flush=True)
    return out


def _logistic(X: np.ndarray, y: np.ndarray) -> Logistic:
    from sklearn.linear_model import LogisticRegression

    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=1.0, max_iter=5000).fit((X - mean) / scale, y)
    return Logistic(mean, scale, lr.coef_[0], float(lr.intercept_[0]))


def _judged(ranker: Logistic, questions: list[Question]) -> np.ndarray:
    return np.stack([judge_features(q.X, ranker.logit(q.X)) for q in questions])


_MARGINS = np.round(np.arange(0.0, 3.01, 0.1), 2)


def fit(questions: list[Question], max_false_abstain: float, max_chars_rise: float) -> Calibration:
    """The ranker on the candidates of answerable questions (which sentence holds the answer),
    then the judge on every question (does the article answer?), then the threshold, then the
    widest pair margin at which the quotes grow by at most ``max_chars_rise`` on average (the
    median moves in jumps: a few pairs near the middle shift it by a sentence)."""
    answerable = [q for q in questions if q.kind == "answerable" and q.y.any()]
    ranker = _logistic(
        np.concatenate([q.X for q in answerable]), np.concatenate([q.y for q in answerable])
    )
    judge = _logistic(
        _judged(ranker, questions), np.array([q.kind == "answerable" for q in questions])
    )
    cal = Calibration(ranker, judge, 0.5, 0.0)
    p = sorted(r["p"] for r in outcomes(cal, questions) if r["kind"] == "answerable")
    threshold = float(p[int(max_false_abstain * len(p))]) if p else 0.5
    single = quotes(Calibration(ranker, judge, threshold, 0.0), questions)["chars_mean"]
    margin = max(
        m
        for m in _MARGINS
        if quotes(Calibration(ranker, judge, threshold, float(m)), questions)["chars_mean"]
        <= single * (1 + max_chars_rise)
    )
    return Calibration(ranker, judge, threshold, float(margin))


def outcomes(cal: Calibration, questions: list[Question]) -> list[dict[str, Any]]:
    """Per question: its kind, the judge's probability, whether what is quoted holds the gold
    answer, and how long the quote is."""
    out = []
    for q in questions:
        logits = cal.ranker.logit(q.X)
        z = float(cal.judge.logit(judge_features(q.X, logits)))
        shown = quoted(q.sentence, q.chunk, logits, cal.pair_margin)
        out.append(
            {
                "kind": q.kind,
                "p": 1 / (1 + np.exp(-z)),
                "right": bool(q.y[shown].any()),
                "chars": int(q.span[shown[-1], 1] - q.span[shown[0], 0]),
            }
        )
    return out


def quotes(cal: Calibration, questions: list[Question]) -> dict[str, float]:
    """Over the answerable questions: the share quoted with the gold at ``cal``'s threshold,
    and the median and mean length of the quotes shown."""
    rows = [r for r in outcomes(cal, questions) if r["kind"] == "answerable"]
    shown = [r for r in rows if r["p"] >= cal.threshold]
    return {
        "quote_holds_gold": curve(rows, cal.threshold)["quote_holds_gold"],
        "chars_p50": float(np.median([r["chars"] for r in shown])) if shown else 0.0,
        "chars_mean": round(float(np.mean([r["chars"] for r in shown])), 1) if shown else 0.0,
    }


def curve(rows: list[dict[str, Any]], threshold: float) -> dict[str, float]:
    """Shares at ``threshold``: answerable refused, answerable quoted with the gold, and each
    unanswerable kind refused."""
    ans = [r for r in rows if r["kind"] == "answerable"]
    out = {
        "false_abstain": np.mean([r["p"] < threshold for r in ans]) if ans else 0.0,
        "quote_holds_gold": np.mean([r["p"] >= threshold and r["right"] for r in ans])
        if ans
        else 0.0,
    }
    for kind in ("other-article", "paragraph-removed"):
        rs = [r for r in rows if r["kind"] == kind]
        if rs:
            out[f"{kind}_abstained"] = float(np.mean([r["p"] < threshold for r in rs]))
    return {k: round(float(v), 4) for k, v in out.items()}


def calibrate(
    questions: list[Question], max_false_abstain: float, max_chars_rise: float
) -> tuple[DecisionModel, dict[str, Any]]:
    """Fit each language on the even-numbered articles; report on the odd-numbered ones."""
    langs: dict[str, Calibration] = {}
    report: dict[str, Any] = {}
    for lang in sorted({q.lang for q in questions}):
        fit_half = [q for q in questions if q.lang == lang and q.article % 2 == 0]
        held = [q for q in questions if q.lang == lang and q.article % 2 == 1]
        cal = langs[lang] = fit(fit_half, max_false_abstain, max_chars_rise)
        held_rows = outcomes(cal, held)
        single = Calibration(cal.ranker, cal.judge, cal.threshold, 0.0)
        report[lang] = {
            "threshold": round(cal.threshold, 4),
            "pair_margin": cal.pair_margin,
            "held_out_quotes": {
                "one sentence": quotes(single, held),
                "with pairs": quotes(cal, held),
            },
            "fitted_half": curve(outcomes(cal, fit_half), cal.threshold),
            "held_out_half": curve(held_rows, cal.threshold),
            "held_out_curve": [
                {"threshold": round(float(t), 3), **curve(held_rows, float(t))}
                for t in np.linspace(0.05, 0.95, 19)
            ],
            "ranker_weights": dict(
                zip(FEATURES, np.round(cal.ranker.coef, 3).tolist(), strict=True)
            ),
            "judge_weights": dict(
                zip(JUDGE_FEATURES, np.round(cal.judge.coef, 3).tolist(), strict=True)
            ),
        }
    return DecisionModel(langs, {}), report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m qa.calibrate", description=__doc__.split("\n")[0])
    p.add_argument("sets", nargs="+", type=Path, help="folders holding a questions.jsonl")
    p.add_argument("--index-dir", type=Path, help="where to keep the articles' indexes")
    p.add_argument("--max-false-abstain", type=float, default=0.04)
    p.add_argument(
        "--max-chars-rise",
        type=float,
        default=0.10,
        help="how much longer quoting a sentence's neighbour may make the quotes on average",
    )
    p.add_argument("--out", type=Path, default=_HERE / "data" / MODEL_FILE)
    p.add_argument("--features", type=Path, help="reuse (or save) the collected signals here")
    args = p.parse_args(argv)
    hashes = {
        s.name: hashlib.sha256((s / "questions.jsonl").read_bytes()).hexdigest() for s in args.sets
    }
    questions: list[Question] | None = None
    if args.features and args.features.is_file():
        saved = np.load(args.features, allow_pickle=False)
        if str(saved["key"]) == json.dumps([hashes, FEATURES, _SIGNALS_VERSION]):
            questions = _unpack(saved)
    if questions is None:
        index_dir = args.index_dir or Path(tempfile.mkdtemp(prefix="sanad-calibrate-"))
        questions = [q for s in args.sets for q in collect(s, index_dir)]
        if args.features:
            _pack(args.features, questions, json.dumps([hashes, FEATURES, _SIGNALS_VERSION]))
    model, report = calibrate(questions, args.max_false_abstain, args.max_chars_rise)
    meta = {
        "fitted_by": "python -m qa.calibrate " + " ".join(s.name for s in args.sets),
        "fitted_on": "even-numbered articles of each set (odd-numbered ones held out)",
        "data_sha256": hashes,
        "max_false_abstain": args.max_false_abstain,
        "max_chars_rise": args.max_chars_rise,
        "report": report,
    }
    model = DecisionModel(model.languages, meta)
    args.out.write_text(json.dumps(model.to_dict(), ensure_ascii=False, indent=1) + "\n", "utf-8")
    for lang, r in report.items():
        print(f"{lang}: threshold {r['threshold']}  fitted {r['fitted_half']}")
        print(f"{lang}: held out {r['held_out_half']}")
        print(f"{lang}: pair margin {r['pair_margin']}, held out {r['held_out_quotes']}")
    return 0


def _pack(path: Path, questions: list[Question], key: str) -> None:
    sizes = np.array([len(q.y) for q in questions])
    np.savez(
        path,
        key=key,
        ids=np.array([q.id for q in questions]),
        lang=np.array([q.lang for q in questions]),
        kind=np.array([q.kind for q in questions]),
        article=np.array([q.article for q in questions]),
        sizes=sizes,
        X=np.concatenate([q.X for q in questions]),
        y=np.concatenate([q.y for q in questions]),
        sentence=np.concatenate([q.sentence for q in questions]),
        chunk=np.concatenate([q.chunk for q in questions]),
        span=np.concatenate([q.span for q in questions]),
    )


def _unpack(saved: Any) -> list[Question]:
    # An NpzFile reads an array anew at each subscript: read each once.
    keys = ("ids", "lang", "kind", "article", "sizes", "X", "y", "sentence", "chunk", "span")
    a = {k: saved[k] for k in keys}
    bounds = np.cumsum(np.concatenate([[0], a["sizes"]]))
    return [
        Question(
            str(a["ids"][i]),
            str(a["lang"][i]),
            str(a["kind"][i]),
            int(a["article"][i]),
            a["X"][lo:hi],
            a["y"][lo:hi],
            a["sentence"][lo:hi],
            a["chunk"][lo:hi],
            a["span"][lo:hi],
        )
        for i, (lo, hi) in enumerate(itertools.pairwise(bounds))
    ]


if __name__ == "__main__":
    sys.exit(main())
