"""``Assistant``: the one object other tools use. Question (and history) in, ``Answer`` out.

A question flows top-down: clean it, retrieve passages (``qa.retrieval``), decide whether and
with which words the article answers (``qa.decision``), then let the chosen backend answer
(``qa.extractive`` by default, an LLM from ``qa.generative``).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any

from index import Document, Index, Settings, detect_language, has_words, load_index

from .answer import Answer, Language, Source
from .backends import Backend, Context, Quote
from .decision import POOL_CHUNKS, Decider, Decision, DecisionModel, load_model
from .errors import QuestionError
from .extractive import ExtractiveBackend
from .followup import is_followup, normalise_history, standalone_query
from .generative import GenerativeBackend, load_chat_model
from .lexicon import load_lexicon
from .retrieval import Retrieval, Retrieved

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Assistant:
    """Answers questions about one article, citing it.

    ``Assistant()`` uses the packaged article and the embedded defaults (offline); pass a
    ``Settings`` (or keyword overrides such as ``document=...``) for anything else. Loading takes
    a few seconds the first time (model and index), then ``ask`` takes tens of milliseconds.
    """

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = (settings or Settings.from_env()).replace(**overrides)
        self.index: Index = load_index(self.settings)
        self.retrieval = Retrieval(self.index, load_lexicon(self.settings))
        self.decider = Decider(self.retrieval, self._decision_model())
        self.extractive = ExtractiveBackend(self.index.document.text, self.retrieval.lexicon)
        self._backends: dict[str, Backend] = {"extractive": self.extractive}
        self._backends_lock = threading.Lock()

    @staticmethod
    def _decision_model() -> DecisionModel | None:
        return load_model()

    @property
    def document(self) -> Document:
        return self.index.document

    @property
    def embeddings(self) -> Any:
        """The LangChain ``Embeddings`` object in use."""
        return self.index.embeddings

    def ask(
        self,
        question: str,
        history: Sequence[Any] | None = None,
        *,
        top_k: int | None = None,
        llm: str | None = None,
    ) -> Answer:
        """Answer ``question`` from the article; ``history`` is the conversation so far."""
        answer: Answer | None = None
        for item in self.stream(question, history, top_k=top_k, llm=llm):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None  # stream() always ends with the Answer
        return answer

    def stream(
        self,
        question: str,
        history: Sequence[Any] | None = None,
        *,
        top_k: int | None = None,
        llm: str | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text in pieces as it is produced, then the final ``Answer``, whose
        text is authoritative (a generated answer that fails the grounding check is replaced)."""
        backend = self._backend((llm or self.settings.llm).strip())
        yield from backend.stream(self._context(question, history, top_k, backend))

    def _backend(self, spec: str) -> Backend:
        # Loading a GGUF file takes seconds and a client holds a connection pool: keep them.
        with self._backends_lock:
            if spec not in self._backends:
                model = load_chat_model(spec, self.settings)
                self._backends[spec] = GenerativeBackend(spec, model, self.extractive)
            return self._backends[spec]

    # -- steps -------------------------------------------------------------------------------

    def retrieve(
        self,
        question: str,
        history: Sequence[Any] | None = None,
        *,
        top_k: int | None = None,
        backend: Backend | None = None,
    ) -> tuple[str, Language, list[dict[str, str]], Retrieved]:
        """The cleaned question, its language, the history and what retrieval found for it."""
        question = _clean(question, self.settings.max_question_chars)
        messages = normalise_history(history)
        k = top_k or self.settings.top_k
        if not 1 <= k <= 20:
            raise QuestionError(f"top_k must be between 1 and 20, not {k}")
        language: Language = detect_language(question)
        query = None
        if backend is not None and messages and is_followup(question):
            query = backend.standalone(question, messages, language)
        query = query or standalone_query(question, messages)
        retrieved = self.retrieval.retrieve(query, question, language, max(k, POOL_CHUNKS))
        return question, language, messages, retrieved

    def _context(
        self, question: str, history: Sequence[Any] | None, top_k: int | None, backend: Backend
    ) -> Context:
        question, language, messages, retrieved = self.retrieve(
            question, history, top_k=top_k, backend=backend
        )
        decision = self.decider.decide(question, language, retrieved)
        quote = _quote(decision)
        k = top_k or self.settings.top_k
        return Context(
            question,
            language,
            messages,
            retrieved.query,
            self._sources(retrieved, quote, k),
            quote,
            decision.confidence,
        )

    def _sources(self, retrieved: Retrieved, quote: Quote | None, k: int) -> list[Source]:
        """The ``k`` best passages, the quoted one first (it is the one cited as [1])."""
        ids = [h.chunk_id for h in retrieved.hits]
        scores = {h.chunk_id: h.score for h in retrieved.hits}
        if quote is not None:
            ids = [quote.chunk_id] + [c for c in ids if c != quote.chunk_id]
        text = self.document.text
        sources = []
        for chunk_id in ids[:k]:
            c = self.index.chunks[chunk_id]
            marks = [(quote.start, quote.end)] if quote and quote.chunk_id == chunk_id else []
            score = scores.get(chunk_id, min(scores.values(), default=0.0))
            sources.append(Source(c.text(text), chunk_id, round(score, 4), c.start, c.end, marks))
        return sources


def _quote(decision: Decision) -> Quote | None:
    if not decision.answers or decision.best is None or decision.span is None:
        return None
    return Quote(decision.best.chunk_id, *decision.span)


# Bidi controls (LRE…RLO, LRI…PDI, LRM/RLM/ALM) can reorder how the echoed question reads.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _clean(question: Any, limit: int) -> str:
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    # Lone surrogates (from broken clients) cannot be encoded or shown; control characters are
    # noise. Both are dropped rather than refused, as a careful reader would.
    question = "".join(ch for ch in question if unicodedata.category(ch) != "Cs")
    question = _BIDI.sub("", _CONTROL.sub(" ", question)).strip()
    if not question:
        raise QuestionError("please type a question")
    if len(question) > limit:
        raise QuestionError(
            f"the question is {len(question)} characters long; the limit is {limit}"
        )
    if not has_words(question):
        raise QuestionError("the question has no words to search the article for")
    return question
