"""Finding the passages that answer a question, in Arabic or in English.

Three signals, fused with weights that depend on the question's language:

* dense: multilingual-e5 similarity between the question and every unit (chunks and their
  sentences); a chunk scores as its best unit, because one matching sentence in a long paragraph
  is diluted when the paragraph is embedded whole (measured: +7/35 English hit@1);
* BM25 over normalised Arabic tokens reduced to rough roots, only for Arabic questions: English
  words never match Arabic text and BM25 then ranks noise (a naive fusion took English hit@3
  from 22/24 to 8/24);
* the question's names and numbers found in a chunk: Latin-script ones as they are ("Long War
  Journal", "ISWAP", "2015"), and English names by their transliteration ("Caleb Weiss" is
  "كاليب فايس" in the article), which is what an English question shares with Arabic text.

``HybridRetriever`` wraps this as a LangChain retriever so it composes with LangChain chains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict
from rank_bm25 import BM25Okapi

from index import (
    Index,
    arabic_skeletons,
    detect_language,
    latin_skeletons,
    latin_tokens,
    name_words,
    normalize,
    skeleton_match,
    tokenize,
)

_DIGITS = re.compile(r"\d+")

# Fusion weights: dense cosine (e5 cosines live in a narrow 0.75-0.9 band) plus bonuses scaled
# to that band. Chosen on the dev file, checked on tests/data/heldout.jsonl.
_W_BM25_AR = 0.06
_W_EXACT = 0.04


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    score: float  # fused score
    dense: float  # best cosine of the chunk's units with the question
    best_unit: int  # the unit (sentence or chunk) that matched best
    lexical: float  # normalised BM25 / exact-match share, 0..1


class Retrieval:
    """Language-aware hybrid search over one index. Thread-safe: read-only after construction."""

    def __init__(self, index: Index) -> None:
        self.index = index
        texts = [c.text(index.document.text) for c in index.chunks]
        self._tokens = [tokenize(t, roots=True) for t in texts]
        self._bm25 = BM25Okapi(self._tokens) if any(self._tokens) else None
        self._latin = [set(latin_tokens(t)) for t in texts]
        self._numbers = [set(_DIGITS.findall(normalize(t))) for t in texts]
        self._skeletons = [set().union(*(arabic_skeletons(w) for w in t.split())) for t in texts]
        self._unit_chunk = np.array([u.chunk_id for u in index.units])
        lines = resources.files("qa").joinpath("data", "background.txt").read_text("utf-8")
        background = [ln for ln in lines.splitlines() if ln.strip() and not ln.startswith("#")]
        self._background = np.asarray(index.embeddings.embed_documents(background), dtype="float32")

    def embed_query(self, query: str) -> np.ndarray:
        return np.asarray(self.index.embeddings.embed_query(query), dtype="float32")

    def dense_scores(self, qvec: np.ndarray) -> np.ndarray:
        """Cosine similarity of the question with every unit."""
        return self.index.vectors @ qvec

    def off_topic_margin(self, qvec: np.ndarray, hit: Hit) -> float:
        """How much better the best passage matches the question than the best off-topic
        reference sentence does. Raw cosines shift with a question's length and language, so
        "not in the article" is judged against this yardstick rather than a fixed cosine. The
        passage's fused score counts: names and numbers shared with the question are evidence
        that the question is about the article."""
        return hit.score - float((self._background @ qvec).max())

    def search(
        self,
        query: str,
        k: int = 4,
        *,
        language: str | None = None,
        qvec: np.ndarray | None = None,
        also: tuple[str, np.ndarray] | None = None,
    ) -> list[Hit]:
        """The ``k`` best chunks for ``query``. ``also`` is a second formulation of the same
        question (a follow-up on its own, beside its anchored ``query``): the scores of both
        are averaged, so neither the earlier topic nor the bare follow-up alone decides."""
        language = language or detect_language(query)
        if qvec is None:
            qvec = self.embed_query(query)
        fused, dense, best_unit, lexical = self._score(query, qvec, language)
        if also is not None:
            other = self._score(also[0], also[1], language)
            fused = (fused + other[0]) / 2
        order = np.argsort(-fused, kind="stable")[:k]
        return [
            Hit(int(c), float(fused[c]), float(dense[c]), int(best_unit[c]), float(lexical[c]))
            for c in order
        ]

    def _score(
        self, query: str, qvec: np.ndarray, language: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Fused score, best unit cosine, best unit and lexical share, per chunk."""
        unit_scores = self.dense_scores(qvec)
        n = len(self.index.chunks)
        dense = np.full(n, -1.0, dtype="float32")
        best_unit = np.zeros(n, dtype=int)
        for uid, (cid, s) in enumerate(zip(self._unit_chunk, unit_scores, strict=True)):
            if s > dense[cid]:
                dense[cid], best_unit[cid] = s, uid

        lexical = self._exact(query)
        if language == "ar" and self._bm25 is not None:
            q_tokens = tokenize(query, roots=True)
            if q_tokens:
                bm = np.asarray(self._bm25.get_scores(q_tokens), dtype="float32")
                if bm.max() > 0:
                    lexical = np.maximum(lexical, bm / bm.max())
            return dense + _W_BM25_AR * lexical, dense, best_unit, lexical
        return dense + _W_EXACT * lexical, dense, best_unit, lexical

    def _exact(self, query: str) -> np.ndarray:
        """Share of the question's names and numbers that each chunk contains."""
        names = [n.lower() for n in name_words(query)]
        # An Arabic question's Latin words are names too ("ما هي Long War Journal؟").
        names += [
            t for t in latin_tokens(query) if t not in names and detect_language(query) == "ar"
        ]
        numbers = set(_DIGITS.findall(normalize(query)))
        wanted = len(names) + len(numbers)
        out = np.zeros(len(self.index.chunks), dtype="float32")
        if not wanted:
            return out
        skeletons = [latin_skeletons(n) for n in names]
        for i in range(len(out)):
            found = len(numbers & self._numbers[i])
            for name, sks in zip(names, skeletons, strict=True):
                if name in self._latin[i] or any(
                    skeleton_match(a, b) for a in sks for b in self._skeletons[i]
                ):
                    found += 1
            out[i] = found / wanted
        return out


class HybridRetriever(BaseRetriever):
    """The hybrid search as a LangChain retriever: chunks as Documents, score in metadata."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    retrieval: Retrieval
    k: int = 4

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[LCDocument]:
        text = self.retrieval.index.document.text
        docs = []
        for hit in self.retrieval.search(query, self.k):
            c = self.retrieval.index.chunks[hit.chunk_id]
            docs.append(
                LCDocument(
                    page_content=c.text(text),
                    metadata={
                        "chunk_id": c.chunk_id,
                        "score": hit.score,
                        "start": c.start,
                        "end": c.end,
                    },
                )
            )
        return docs
