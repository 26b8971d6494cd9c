"""The fresh processes that ``bench/perf.py`` times: ``provision CACHE`` (first run on an empty
cache) and ``restart CACHE`` (a new process once everything is cached). Prints one JSON line of
stage timings in seconds.

A separate file, importing only the standard library at module level, so that the first stage it
times really starts with sanad's own imports.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def provision(cache: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    from index import Settings, get_embeddings, load_index, provision_default_model

    t_import = time.perf_counter()
    settings = Settings(cache_dir=cache)
    provision_default_model(cache)
    t_provision = time.perf_counter()
    get_embeddings(settings)
    t_model = time.perf_counter()
    index = load_index(settings)
    t_index = time.perf_counter()
    # The first Assistant also embeds the off-topic reference sentences once, as the first
    # `sanad serve` or `sanad ask` does; a restart then loads them.
    from qa import Assistant

    Assistant(settings)
    t_assistant = time.perf_counter()
    return {
        "imports": t_import - t0,
        "provision": t_provision - t_import,
        "model_load": t_model - t_provision,
        "index_build": t_index - t_model,
        "assistant": t_assistant - t_index,
        "units": len(index.units),
        "peak_rss_mb": _peak_rss_mb(),
    }


def restart(cache: Path, questions: list[str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    from index import Settings, get_embeddings
    from qa import Assistant
    from qa.lexicon import load_lexicon
    from qa.retrieval import Retrieval

    t_import = time.perf_counter()
    settings = Settings(cache_dir=cache)
    get_embeddings(settings)
    t_model = time.perf_counter()
    bot = Assistant(settings)
    t_assistant = time.perf_counter()
    # A second Retrieval over the loaded index isolates what Assistant() spends past loading
    # the index (lexical tables, off-topic reference vectors).
    Retrieval(bot.index, load_lexicon(settings))
    t_retrieval = time.perf_counter()
    bot.ask(questions[0])
    t_first = time.perf_counter()
    bot.ask(questions[1])
    t_second = time.perf_counter()
    # What a restart that answers from a cached index loads: never torch (see index.query_model).
    heavy = [m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules]
    return {
        "heavy_imports": heavy,
        "imports": t_import - t0,
        "model_load": t_model - t_import,
        "assistant": t_assistant - t_model,
        "retrieval_init": t_retrieval - t_assistant,
        "first_ask": t_first - t_retrieval,
        "second_ask": t_second - t_first,
        "peak_rss_mb": _peak_rss_mb(),
    }


def main(argv: list[str]) -> int:
    kind, cache = argv[0], Path(argv[1])
    result = provision(cache) if kind == "provision" else restart(cache, argv[2:4])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
