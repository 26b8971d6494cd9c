"""Retrieval quality: the shipped retriever against three simpler ones, on the same questions.

Run: ``.venv/bin/python bench/retrieval.py``. Writes the "Retrieval quality" section of
bench/RESULTS.md and prints it.

Every retriever returns at most 4 passages, and a question counts as found at rank r when the
r-th passage holds its gold evidence under `sanad eval`'s rule. The baselines share the shipped
index's e5 embeddings object, so the differences come from what is searched and how it is scored,
not from the model.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from common import evidence_rank, machine, questions, write_section
from langchain_community.vectorstores import FAISS
from langchain_text_splitters import RecursiveCharacterTextSplitter
from rank_bm25 import BM25Okapi

from index import get_embeddings, tokenize
from qa import Assistant

K = 4  # the shipped top_k; every retriever is cut to it
Retriever = Callable[[dict[str, Any]], list[str]]


@dataclass
class Result:
    id: str
    lang: str
    file: str
    followup: bool
    rank: int | None  # 1-based, None when not in the top K


def shipped(bot: Assistant) -> tuple[Retriever, list[int]]:
    """The full pipeline as users get it. Also collects ranks past K: the assistant appends the
    quoted chunk as a 5th source when it is not in the top 4, which `sanad eval` credits."""
    beyond: list[int] = []

    def run(item: dict[str, Any]) -> list[str]:
        texts = [s.text for s in bot.ask(item["question"], item.get("history") or []).sources]
        rank = evidence_rank(texts, item["evidence"])
        if rank is not None and rank > K:
            beyond.append(rank)
        return texts[:K]

    return run, beyond


def dense_only(bot: Assistant) -> Retriever:
    """The same units and vectors as the index, chunk score = best unit cosine; nothing else."""
    index = bot.index
    text = index.document.text
    unit_chunk = np.array([u.chunk_id for u in index.units])
    n_chunks = len(index.chunks)

    def run(item: dict[str, Any]) -> list[str]:
        qvec = np.asarray(index.embeddings.embed_query(item["question"]), dtype="float32")
        scores = np.full(n_chunks, -np.inf, dtype="float32")
        np.maximum.at(scores, unit_chunk, index.vectors @ qvec)
        return [index.chunks[c].text(text) for c in np.argsort(-scores, kind="stable")[:K]]

    return run


def bm25_only(bot: Assistant) -> Retriever:
    """rank_bm25 over the product's Arabic tokens of the same chunks."""
    text = bot.index.document.text
    chunks = [c.text(text) for c in bot.index.chunks]
    bm25 = BM25Okapi([tokenize(c) for c in chunks])

    def run(item: dict[str, Any]) -> list[str]:
        scores = bm25.get_scores(tokenize(item["question"]))
        # A chunk sharing no term with the question scores 0; a search engine returns nothing
        # for it, rather than passages in document order (which would score by luck).
        order = [c for c in np.argsort(-scores, kind="stable")[:K] if scores[c] > 0]
        return [chunks[c] for c in order]

    return run


def plain_langchain(bot: Assistant) -> Retriever:
    """The textbook LangChain setup: character splitter over the raw article, FAISS.from_texts
    with the same model as LangChain embeds it (``HuggingFaceEmbeddings``, sentence-transformers
    with the E5 prompts), similarity_search."""
    splitter = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50)
    embeddings = get_embeddings(bot.settings)
    store = FAISS.from_texts(
        splitter.split_text(bot.index.document.text), getattr(embeddings, "documents", embeddings)
    )

    def run(item: dict[str, Any]) -> list[str]:
        return [d.page_content for d in store.similarity_search(item["question"], k=K)]

    return run


def score(retriever: Retriever, items: list[dict[str, Any]]) -> list[Result]:
    return [
        Result(
            str(item["id"]),
            item["lang"],
            item["file"],
            bool(item.get("history")),
            evidence_rank(retriever(item)[:K], item["evidence"]),
        )
        for item in items
    ]


def _row(name: str, group: str, results: list[Result]) -> str:
    n = len(results)
    hit1 = sum(r.rank == 1 for r in results)
    hit3 = sum(r.rank is not None and r.rank <= 3 for r in results)
    hitk = sum(r.rank is not None for r in results)
    mrr = sum(1 / r.rank for r in results if r.rank) / n if n else 0.0
    return f"| {name} | {group} | {n} | {hit1}/{n} | {hit3}/{n} | {hitk}/{n} | {mrr:.3f} |"


def table(scored: dict[str, list[Result]]) -> str:
    lines = [
        "| retriever | questions | n | hit@1 | hit@3 | hit@4 | MRR@4 |",
        "|---|---|---|---|---|---|---|",
    ]
    groups: list[tuple[str, Callable[[Result], bool]]] = [
        ("ar", lambda r: r.lang == "ar"),
        ("en", lambda r: r.lang == "en"),
        ("all", lambda r: True),
        ("dev (all langs)", lambda r: r.file == "dev"),
        ("heldout (all langs)", lambda r: r.file == "heldout"),
        ("heldout2 (all langs)", lambda r: r.file == "heldout2"),
        ("heldout3 (all langs)", lambda r: r.file == "heldout3"),
        ("follow-ups", lambda r: r.followup),
    ]
    for group, keep in groups:
        for name, results in scored.items():
            lines.append(_row(name, group, [r for r in results if keep(r)]))
    return "\n".join(lines)


def main() -> int:
    load = os.getloadavg()
    items = questions(answerable_only=True)
    bot = Assistant()
    ship, beyond = shipped(bot)
    no_dictionary, _ = shipped(Assistant(lexicon="none"))
    retrievers: dict[str, Retriever] = {
        "a. shipped (hybrid, `Assistant.ask`)": ship,
        "a'. shipped without the English-Arabic dictionary": no_dictionary,
        "b. dense only (units, max per chunk)": dense_only(bot),
        "c. BM25 only (`index.tokenize`)": bm25_only(bot),
        "d. plain LangChain (500/50 splitter + FAISS)": plain_langchain(bot),
    }
    t0 = time.perf_counter()
    scored = {name: score(r, items) for name, r in retrievers.items()}
    n_follow = sum(bool(i.get("history")) for i in items)
    misses = ", ".join(
        f"{r.id} (rank {r.rank or '>4'})" for r in scored[next(iter(scored))] if r.rank != 1
    )
    notes = f"""
{machine(load)} {len(items)} answerable questions with evidence ({time.perf_counter() - t0:.0f} s
to score all five retrievers).

{table(scored)}

Questions (a) does not answer from its first passage: {misses or "none"}.

Notes:
- Questions: the answerable ones of `tests/data/dev.jsonl` and `tests/data/heldout*.jsonl`
  (dev and heldout: each asked in Arabic and again in English). heldout2 was written after the
  first session by a helper who saw neither the pipeline nor the earlier files, and then used to
  find what fails; heldout3 was written the same way and run only for these reports.
  Found = the gold evidence string appears in a returned passage after `index.normalize` and
  whitespace squeezing, the rule of `sanad eval` (`qa.evaluation.holds`).
  MRR@4 counts 0 for evidence outside the first 4 passages.
- The {n_follow} follow-ups get their history only in (a), which anchors them to the previous
  question; (b)-(d) search the follow-up question alone, as a plain retriever would.
- (a) is cut to its first 4 sources. It appends the quoted chunk as a 5th source when that chunk
  is outside the top 4; `sanad eval` credits such a 5th source in its MRR. Here that happened
  {len(beyond)} time(s){" (ranks " + str(beyond) + ")" if beyond else ""}.
- (a') is (a) with `SANAD_LEXICON=none`: English questions lose the BM25 match on the Arabic
  translations of their words (Debian's `dict-freedict-eng-ara`); Arabic ones are unchanged.
- (b) and (a) share the index's units (chunks plus the sentences of multi-sentence chunks) and
  vectors; (b) drops BM25, the name/number bonus and history.
- (c) returns no passage when no chunk shares a term with the question, which is what happens to
  English questions: the article is Arabic. It is the lexical half of (a), shown alone.
- (d) splits the raw article with `RecursiveCharacterTextSplitter(chunk_size=500,
  chunk_overlap=50)` (default separators), embeds the pieces and the questions with the same
  model through sentence-transformers (`HuggingFaceEmbeddings`, the E5 `passage:`/`query:`
  prompts; sanad embeds questions with the same model on ONNX Runtime) and
  calls `similarity_search(question, k=4)`. Its passages are cut by length, not by sentence, so
  evidence straddling a cut is found in neither piece.
"""
    write_section("Retrieval quality", notes)
    print(notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
