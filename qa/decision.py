"""Does the article answer the question, and with which sentence? One component decides.

Every sentence of the retrieved passages (and the sentences that match the question best
anywhere in the article) is a candidate. For each, signals that hold for any text are measured:

* meaning: the dense similarity of question and sentence, how far it stands below the best
  sentence of the article, and how distinctive the best match is among all of the article's
  passages (a z-score: a question about another topic matches everything about equally);
* the question's own content: the share of its words (weighted by how rare they are in the
  article) that the sentence, its neighbours and the whole article contain; for an English
  question its words' Arabic translations from the dictionary, its names by transliteration
  and its numbers; a question whose rare words the article lacks is about something else;
* the kind of answer asked for: a number, a date or a name, and whether the sentence holds one;
* agreement between units: the rank of the sentence's passage in the hybrid retrieval.

A logistic model turns them into the probability that the sentence holds the answer. Its
weights and its operating threshold are not set by hand: ``python -m qa.calibrate`` fits them
on named development data and saves them, with a hash of that data, in ``qa/data/decision.json``.
The best candidate is quoted when its probability clears the threshold, with the sentence beside
it in its passage when the ranker scores that one nearly as well (the fitted ``pair_margin``);
otherwise sanad says the article does not answer. No model is asked.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from index import (
    arabic_skeletons,
    latin_skeletons,
    loose_root,
    name_words,
    normalize,
    skeleton_match,
    tokenize,
)

from .kinds import AnswerType, answer_type, satisfies
from .lexicon import Lexicon
from .retrieval import Retrieval, Retrieved

#: The signals, in the order the fitted weights expect them.
FEATURES = (
    "cos",  # dense similarity of the question and the sentence
    "cos_gap",  # cos minus the best sentence's cos in the article (<= 0)
    "cos_z",  # how far the article's best unit stands out from its average (question-level)
    "cover",  # rarity-weighted share of the question's terms in the sentence
    "cover_gap",  # cover minus the best candidate's cover (<= 0)
    "cover_window",  # the same share in the sentence and the sentences either side of it
    "cover_article",  # the same share anywhere in the article (question-level)
    "names",  # share of the question's names and numbers in the sentence (0 if it has none)
    "has_names",  # the question has names or numbers
    "kind_asked",  # the question asks for a number, a date or a name
    "kind_held",  # it does, and the sentence holds one
    "chunk_rank",  # rank of the sentence's passage in the hybrid retrieval (0 = first)
    "fused_gap",  # that passage's fused score minus the first passage's
    "log_chars",  # the sentence's length
    "log_terms",  # how many terms the question has (few terms make shares coarse)
    "pairs",  # share of the question's adjacent word pairs that stand together in the sentence
    "covered",  # how many of the question's terms the sentence holds
    # The sentence before, in the same paragraph: an answer often follows the sentence that
    # names its subject ("The company was founded by X. It made Y.").
    "cover_prev",
    # The cover again with looser keys (``index.loose_root``): a person prefix or a tanween
    # alef apart, so "تحد سوريا شمالاً" finds "يحدها شمالاً".
    "cover_loose",
    # The sentence's place in its paragraph (0 = first): a paragraph's first sentence names its
    # subject, which questions about the rest of the paragraph share.
    "para_pos",
)
_UNRANKED = 6  # chunk_rank of a sentence whose passage was not among the retrieved ones
_TOP_SENTENCES = 6  # sentences by dense similarity that join the retrieved passages' sentences
POOL_CHUNKS = 4  # retrieved passages whose sentences are candidates


@dataclass(frozen=True)
class Candidate:
    sentence: int  # index into the decider's sentence table
    chunk_id: int
    start: int  # document offsets
    end: int
    features: np.ndarray


@dataclass(frozen=True)
class Decision:
    """The best candidate and the fitted probability that it answers; ``answers`` says whether
    that clears the operating threshold. ``span`` is what to quote (document offsets): the best
    sentence, or it and the one beside it (see ``quoted``)."""

    best: Candidate | None
    confidence: float
    answers: bool
    span: tuple[int, int] | None = None


@dataclass(frozen=True)
class _Term:
    keys: frozenset[str]  # BM25 tokens that count as the term being present
    skeletons: frozenset[str]  # transliteration skeletons of a name, matched against Arabic words
    name: bool  # a name or a number
    weight: float
    loose: frozenset[str]  # keys through ``loose_root``


#: What the judge reads of a question's ranked candidates, in the order its weights expect.
JUDGE_FEATURES = (
    "rank_logit",  # the ranker's score of the best candidate
    "rank_margin",  # its lead over the second best
    "cos",  # the best candidate's signals (see FEATURES)
    "cos_z",
    "cover",
    "cover_window",
    "cover_article",
    "names",
    "has_names",
    "kind_asked",
    "kind_held",
    "log_terms",
    "pairs",
    "covered",
    "best_cover",  # the highest cover of any candidate
    "best_cos",  # the highest cos of any candidate
)


@dataclass(frozen=True)
class Logistic:
    """A fitted logistic regression over standardised features."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean.round(6).tolist(),
            "scale": self.scale.round(6).tolist(),
            "coef": self.coef.round(6).tolist(),
            "intercept": round(float(self.intercept), 6),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], n: int) -> Logistic:
        arrays = [np.asarray(d[k], dtype="float64") for k in ("mean", "scale", "coef")]
        if any(a.shape != (n,) for a in arrays) or not np.all(arrays[1] > 0):
            raise ValueError("fitted weights of the wrong shape")
        return cls(*arrays, float(d["intercept"]))


@dataclass(frozen=True)
class Calibration:
    """One question language's fitted decision: a ranker scores each candidate sentence (does
    it hold the answer?), a judge reads the best one's signals (does the article answer at
    all?), and the article answers when the judge's probability reaches ``threshold``. The
    sentence beside the best one in its passage is quoted with it when the ranker scores it
    less than ``pair_margin`` below the best."""

    ranker: Logistic
    judge: Logistic
    threshold: float
    pair_margin: float


@dataclass(frozen=True)
class DecisionModel:
    languages: dict[str, Calibration]
    meta: dict[str, Any]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecisionModel:
        if (
            tuple(d.get("features", ())) != FEATURES
            or tuple(d.get("judge_features", ())) != JUDGE_FEATURES
            or any("pair_margin" not in v for v in d["languages"].values())
        ):
            raise ValueError("the fitted weights are for other signals: run python -m qa.calibrate")
        langs = {
            lang: Calibration(
                Logistic.from_dict(v["ranker"], len(FEATURES)),
                Logistic.from_dict(v["judge"], len(JUDGE_FEATURES)),
                float(v["threshold"]),
                float(v["pair_margin"]),
            )
            for lang, v in d["languages"].items()
        }
        return cls(langs, {k: v for k, v in d.items() if k != "languages"})

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.meta,
            "features": list(FEATURES),
            "judge_features": list(JUDGE_FEATURES),
            "languages": {
                lang: {
                    "ranker": c.ranker.to_dict(),
                    "judge": c.judge.to_dict(),
                    "threshold": round(c.threshold, 6),
                    "pair_margin": round(c.pair_margin, 6),
                }
                for lang, c in self.languages.items()
            },
        }


def judge_features(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """The judge's view of one question: its candidates' signals ``x`` and ranker scores."""
    order = np.argsort(-logits, kind="stable")
    best = x[order[0]]
    second = logits[order[1]] if len(order) > 1 else logits[order[0]] - 10.0
    f = {name: best[FEATURES.index(name)] for name in JUDGE_FEATURES if name in FEATURES}
    f["rank_logit"] = logits[order[0]]
    f["rank_margin"] = logits[order[0]] - second
    f["best_cover"] = x[:, FEATURES.index("cover")].max()
    f["best_cos"] = x[:, FEATURES.index("cos")].max()
    return np.array([f[name] for name in JUDGE_FEATURES], dtype="float64")


def quoted(
    sentences: np.ndarray, chunks: np.ndarray, logits: np.ndarray, margin: float
) -> list[int]:
    """The candidates to quote, in text order: the best, and the sentence beside it in its
    passage when the ranker scores that one less than ``margin`` below. The answer often sits
    in the sentence after the one naming its subject, and the ranker cannot always tell which
    of the two holds it; quoting both costs a sentence and keeps the answer."""
    best = int(np.argmax(logits))
    near = [
        j
        for j in range(len(logits))
        if chunks[j] == chunks[best]
        and abs(int(sentences[j]) - int(sentences[best])) == 1
        and logits[best] - logits[j] < margin
    ]
    if not near:
        return [best]
    other = max(near, key=lambda j: logits[j])
    return sorted((best, other), key=lambda j: sentences[j])


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


MODEL_FILE = "decision.json"


def load_model() -> DecisionModel | None:
    """The fitted weights shipped in ``qa/data``; None before ``python -m qa.calibrate`` has
    written any (the calibration itself needs only the signals)."""
    path = resources.files("qa").joinpath("data", MODEL_FILE)
    if not path.is_file():
        return None
    return DecisionModel.from_dict(json.loads(path.read_text("utf-8")))


def _pairs(seq: list[str]) -> frozenset[tuple[str, str]]:
    return frozenset(itertools.pairwise(seq)) | frozenset(zip(seq, seq[2:], strict=False))


class Decider:
    """Chooses the sentence that answers, or decides the article does not. Read-only after
    construction, so one decider serves concurrent questions."""

    def __init__(self, retrieval: Retrieval, model: DecisionModel | None) -> None:
        self.retrieval = retrieval
        self.model = model
        index = retrieval.index
        text = index.document.text
        # Every sentence has a vector: its own unit, or its chunk's when the chunk is one sentence.
        rows = [
            (u.unit_id, u.chunk_id, u.start, u.end)
            for u in index.units
            if u.kind == "sentence" or len(index.chunks[u.chunk_id].sentences) == 1
        ]
        rows.sort(key=lambda r: r[2])
        self._unit = np.array([r[0] for r in rows], dtype="int64")
        self._chunk = [r[1] for r in rows]
        self._span = [(r[2], r[3]) for r in rows]
        self._paragraph = [index.chunks[r[1]].paragraph for r in rows]
        sequences = [tokenize(text[s:e], roots=True) for s, e in self._span]
        self._tokens = [frozenset(seq) for seq in sequences]
        self._loose = [frozenset(map(loose_root, seq)) for seq in sequences]
        self._para_pos: list[int] = []
        for i, p in enumerate(self._paragraph):
            same = i > 0 and self._paragraph[i - 1] == p
            self._para_pos.append(self._para_pos[-1] + 1 if same else 0)
        # Word pairs, one apart or adjacent: a question reuses its source's phrases ("عدد سكان
        # المدينة"), which shared single words do not show.
        self._pairs = [_pairs(seq) for seq in sequences]
        self._skeletons = [
            frozenset(sk for w in text[s:e].split() for sk in arabic_skeletons(w))
            for s, e in self._span
        ]
        self._by_chunk: dict[int, list[int]] = {}
        for i, c in enumerate(self._chunk):
            self._by_chunk.setdefault(c, []).append(i)
        df: dict[str, int] = {}
        for toks in self._tokens:
            for t in toks:
                df[t] = df.get(t, 0) + 1
        n = len(self._tokens)
        self._idf = {t: math.log((n + 1) / (d + 0.5)) for t, d in df.items()}
        self._unseen_idf = math.log((n + 1) / 0.5)
        self._article_tokens = frozenset(df)
        self._article_skeletons = (
            frozenset().union(*self._skeletons) if self._skeletons else frozenset()
        )

    @property
    def lexicon(self) -> Lexicon | None:
        return self.retrieval.lexicon

    # -- the question's terms --------------------------------------------------------------

    def _terms(self, question: str, language: str) -> list[_Term]:
        raw: list[tuple[frozenset[str], frozenset[str], bool]] = []
        names = {n.lower() for n in name_words(question)}
        if language == "ar":
            for tok in dict.fromkeys(tokenize(question, roots=True)):
                latin = tok.isascii() and tok.isalpha()
                skel = frozenset(latin_skeletons(tok)) if latin else frozenset()
                raw.append((frozenset({tok}), skel, latin or tok.isdigit()))
        else:
            for word in dict.fromkeys(tokenize(question)):
                keys = {word}
                if self.lexicon is not None and not word.isdigit():
                    keys |= set(tokenize(" ".join(self.lexicon.senses(word)), roots=True))
                is_name = word in names or word.isdigit()
                skel = frozenset(latin_skeletons(word)) if word in names else frozenset()
                raw.append((frozenset(keys), skel, is_name))
        terms = []
        for keys, skel, is_name in raw:
            present = [self._idf[k] for k in keys if k in self._idf]
            weight = max(present) if present else self._unseen_idf
            terms.append(_Term(keys, skel, is_name, weight, frozenset(map(loose_root, keys))))
        return terms

    def _covered(self, term: _Term, tokens: frozenset[str], skeletons: frozenset[str]) -> bool:
        if term.keys & tokens:
            return True
        return any(skeleton_match(a, b) for a in term.skeletons for b in skeletons)

    def _share(
        self,
        terms: list[_Term],
        tokens: frozenset[str],
        skels: frozenset[str],
        loose: frozenset[str] = frozenset(),
    ) -> float:
        """The rarity-weighted share of ``terms`` present; ``loose`` adds ``loose_root`` keys."""
        total = sum(t.weight for t in terms)
        if not total:
            return 0.0
        covered = (t.weight for t in terms if t.loose & loose or self._covered(t, tokens, skels))
        return sum(covered) / total

    # -- candidates --------------------------------------------------------------------------

    def candidates(self, question: str, language: str, retrieved: Retrieved) -> list[Candidate]:
        """Every candidate sentence with its signals (``FEATURES``), in no particular order."""
        cos_units = retrieved.unit_cos
        sent_cos = cos_units[self._unit]
        best_cos = float(sent_cos.max()) if len(sent_cos) else 0.0
        cos_z = (float(cos_units.max()) - float(cos_units.mean())) / (float(cos_units.std()) + 1e-6)
        chunk_rank = {h.chunk_id: r for r, h in enumerate(retrieved.hits)}
        fused = {h.chunk_id: h.score for h in retrieved.hits}
        top_fused = retrieved.hits[0].score if retrieved.hits else 0.0
        pool: dict[int, None] = {}
        for h in retrieved.hits[:POOL_CHUNKS]:
            pool.update(dict.fromkeys(self._by_chunk.get(h.chunk_id, [])))
        pool.update(dict.fromkeys(int(i) for i in np.argsort(-sent_cos)[:_TOP_SENTENCES]))

        terms = self._terms(question, language)
        name_terms = [t for t in terms if t.name]
        kind = answer_type(question)
        cover_article = self._share(terms, self._article_tokens, self._article_skeletons)
        q_seq = tokenize(question, roots=True) if language == "ar" else []
        q_pairs = _pairs(q_seq)
        text = self.retrieval.index.document.text
        shares = {i: self._share(terms, self._tokens[i], self._skeletons[i]) for i in pool}
        best_cover = max(shares.values(), default=0.0)
        out = []
        for i in pool:
            s, e = self._span[i]
            window = [j for j in (i - 1, i, i + 1) if 0 <= j < len(self._span)]
            w_tokens = frozenset().union(*(self._tokens[j] for j in window))
            w_skels = frozenset().union(*(self._skeletons[j] for j in window))
            same_paragraph = i > 0 and self._paragraph[i - 1] == self._paragraph[i]
            f = {
                "cos": float(sent_cos[i]),
                "cos_gap": float(sent_cos[i]) - best_cos,
                "cos_z": cos_z,
                "cover": shares[i],
                "cover_gap": shares[i] - best_cover,
                "cover_window": self._share(terms, w_tokens, w_skels),
                "cover_article": cover_article,
                "names": self._share(name_terms, self._tokens[i], self._skeletons[i]),
                "has_names": float(bool(name_terms)),
                "kind_asked": float(kind is not AnswerType.ANY),
                "kind_held": float(
                    kind is not AnswerType.ANY and satisfies(kind, text[s:e], question)
                ),
                "chunk_rank": float(chunk_rank.get(self._chunk[i], _UNRANKED)),
                "fused_gap": fused.get(self._chunk[i], top_fused - 0.1) - top_fused,
                "log_chars": math.log(max(e - s, 1)),
                "log_terms": math.log(1 + len(terms)),
                "pairs": len(q_pairs & self._pairs[i]) / len(q_pairs) if q_pairs else 0.0,
                "covered": float(
                    sum(self._covered(t, self._tokens[i], self._skeletons[i]) for t in terms)
                ),
                "cover_prev": self._share(terms, self._tokens[i - 1], self._skeletons[i - 1])
                if same_paragraph
                else 0.0,
                "cover_loose": self._share(
                    terms, self._tokens[i], self._skeletons[i], self._loose[i]
                ),
                "para_pos": math.log1p(self._para_pos[i]),
            }
            features = np.array([f[name] for name in FEATURES], dtype="float64")
            out.append(Candidate(i, self._chunk[i], s, e, features))
        return out

    def decide(self, question: str, language: str, retrieved: Retrieved) -> Decision:
        if self.model is None:
            raise RuntimeError(f"qa/data/{MODEL_FILE} is missing: run python -m qa.calibrate")
        cands = self.candidates(question, language, retrieved)
        if not cands:
            return Decision(None, 0.0, False)
        cal = self.model.languages.get(language) or self.model.languages["ar"]
        x = np.stack([c.features for c in cands])
        logits = cal.ranker.logit(x)
        best = int(np.argmax(logits))
        p = _sigmoid(float(cal.judge.logit(judge_features(x, logits))))
        sentences = np.array([c.sentence for c in cands])
        chunks = np.array([c.chunk_id for c in cands])
        shown = quoted(sentences, chunks, logits, cal.pair_margin)
        return Decision(
            cands[best], p, p >= cal.threshold, (cands[shown[0]].start, cands[shown[-1]].end)
        )


def normalise_for_match(text: str) -> str:
    """What the gold answers are compared on: normalised, without punctuation or extra space."""
    return " ".join("".join(ch if ch.isalnum() else " " for ch in normalize(text)).split())
