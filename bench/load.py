"""Load test of ``sanad serve`` over HTTP: many concurrent clients, answers checked, bounded.

Run: ``.venv/bin/python bench/load.py`` (32 clients for 60 s, after 1 and 8 clients for 20 s
each for comparison; about 3 minutes with the server's start). ``--clients N --seconds S`` set
the main run, ``--compare ''`` skips the comparison runs, ``--no-write`` leaves RESULTS.md alone,
``--profile`` samples the server with py-spy during the main run (``.venv/bin/pip install
py-spy`` first) and adds where the answer threads spend their time.

What it does, on one server process:

1. starts the venv's ``sanad serve`` on a free 127.0.0.1 port with the per-client rate limit off
   (all clients share one address, so the limiter would turn a load test into a limiter test)
   and waits for ``GET /api/health``;
2. asks every question of ``tests/data/dev.jsonl`` once, one at a time, with its history: these
   sequential answers are the reference;
3. for each level, runs N client threads (one HTTP connection pool each) that cycle through the
   questions in their own shuffled order until the time is up or the shared request budget is
   spent, and compares every answer's ``answer`` text and ``sources`` chunk ids with the
   reference; a non-200 status, a transport error or timeout, and a mismatch are all errors;
4. asks the questions sequentially once more, so state that concurrency corrupted for good
   (a cache, the model) shows up even if it did not during the run;
5. stops the server in ``finally`` and writes the "## Load" section of bench/RESULTS.md.

Only loopback is used. Everything is bounded: the server start (``--start-timeout``), each level
(``--seconds`` plus at most one request ``--timeout`` to drain) and the request count
(``--max-requests`` per level).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from common import ROOT, machine, percentile, write_section

from index import Settings

SANAD = Path(sys.executable).parent / "sanad"  # the console script of the same venv
DEV = ROOT / "tests" / "data" / "dev.jsonl"
HEADING = "Load"
Item = dict[str, Any]
# What must be identical to the sequential answer: the text and the cited chunks, in order.
# Scores are compared separately and reported, not counted as errors: they are rounded floats.
Key = tuple[str, tuple[int, ...]]


def load_items(path: Path) -> list[Item]:
    """The questions of a JSONL file; only ``question`` and ``history`` are sent."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def body_of(item: Item) -> dict[str, Any]:
    return {"question": item["question"], "history": item.get("history") or []}


def key_of(answer: dict[str, Any]) -> Key:
    return answer["answer"], tuple(s["chunk_id"] for s in answer["sources"])


def free_port() -> int:
    # Bind to port 0 and let the kernel choose; the tiny race with another process taking the
    # port before the server binds it shows up as a start failure with the server's log.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used (busy, not idle or iowait), from
    /proc/stat: minus the server's and this process's, it is what other work took from the run
    on a shared machine."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    # guest and guest_nice (fields 9-10) are already counted in user and nice.
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def client(timeout: float) -> httpx.Client:
    # trust_env=False: an HTTP(S)_PROXY in the environment must not route loopback traffic.
    # One connection is enough: each client thread has one request in flight at a time.
    return httpx.Client(
        timeout=timeout,
        trust_env=False,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    )


# ---------------------------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------------------------


class Server:
    """``sanad serve`` on a free loopback port: started, watched and stopped by this script."""

    def __init__(
        self,
        log: IO[bytes],
        env_overrides: dict[str, str],
        command: Sequence[str] = (str(SANAD), "serve"),
        cwd: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {
            **os.environ,
            "SANAD_HOST": "127.0.0.1",
            # All load comes from one address: the default 120/min per client would reject it.
            "SANAD_RATE_LIMIT_PER_MINUTE": "0",
            # Plain requests must pass: no bearer token, no chat login.
            "SANAD_API_TOKEN": "",
            "SANAD_UI_AUTH": "",
            **env_overrides,
        }
        self.proc = subprocess.Popen(
            [*command, "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=cwd,
        )
        self.started = time.perf_counter()

    def log_tail(self, lines: int = 15) -> str:
        self.log.flush()
        self.log.seek(0)
        return "\n".join(self.log.read().decode(errors="replace").splitlines()[-lines:])

    def wait_healthy(self, timeout: float) -> float:
        """Seconds from process start until /api/health answers 200."""
        last = "no answer yet"
        with client(5.0) as http:
            while time.perf_counter() - self.started < timeout:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"sanad serve exited with {self.proc.returncode}:\n{self.log_tail()}"
                    )
                try:
                    r = http.get(f"{self.url}/api/health")
                    if r.status_code == 200:
                        return time.perf_counter() - self.started
                    last = f"HTTP {r.status_code}"
                except httpx.TransportError as e:
                    last = repr(e)
                time.sleep(0.25)
        raise RuntimeError(f"sanad serve not healthy after {timeout:.0f} s ({last})")

    def status(self) -> dict[str, int]:
        """Fields of /proc/PID/status in kB or counts: VmHWM (peak RSS), VmRSS, Threads."""
        out = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS", "Threads"):
                out[name] = int(value.split()[0])
        return out

    def cpu_seconds(self) -> tuple[float, float]:
        """User + system CPU time of the server so far: (all its threads, its main thread).
        The main thread runs uvicorn's event loop (HTTP, JSON, validation); answers are computed
        in worker threads. The split shows whether the loop, which holds the GIL while it works,
        costs a noticeable share of each answer."""
        return _cpu(f"/proc/{self.proc.pid}/stat"), _cpu(
            f"/proc/{self.proc.pid}/task/{self.proc.pid}/stat"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # uvicorn shuts down cleanly on SIGTERM
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _cpu(stat_path: str) -> float:
    stat = Path(stat_path).read_text()
    # Fields after the parenthesised command name, which may itself contain spaces.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sampler:
    """Samples the server's thread count and RSS every ``every`` seconds while running: the peak
    thread count shows whether a burst of requests makes the server spawn threads."""

    def __init__(self, server: Server, every: float = 0.5) -> None:
        self.server = server
        self.every = every
        self.max_threads = 0
        self.max_rss_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                s = self.server.status()
            except OSError:  # the server exited; the load loop reports that
                return
            self.max_threads = max(self.max_threads, s.get("Threads", 0))
            self.max_rss_kb = max(self.max_rss_kb, s.get("VmRSS", 0))
            self._stop.wait(self.every)

    @contextmanager
    def running(self) -> Iterator[Sampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one request came to: an answer, or an ``error`` message and its ``kind`` (the
    status, exception class or question that errors are grouped by)."""

    seconds: float
    answer: dict[str, Any] | None = None
    error: str | None = None
    kind: str | None = None


def ask(http: httpx.Client, url: str, item: Item) -> Outcome:
    t0 = time.perf_counter()
    try:
        r = http.post(f"{url}/api/ask", json=body_of(item))
    except httpx.TimeoutException as e:
        return Outcome(
            time.perf_counter() - t0, error=f"timeout ({type(e).__name__})", kind="timeout"
        )
    except httpx.TransportError as e:
        name = type(e).__name__
        return Outcome(time.perf_counter() - t0, error=f"{name}: {e}", kind=name)
    seconds = time.perf_counter() - t0
    if r.status_code != 200:
        kind = f"HTTP {r.status_code}"
        return Outcome(seconds, error=f"{kind}: {r.text[:200]}", kind=kind)
    try:
        answer = r.json()
        key_of(answer)
    except (ValueError, KeyError, TypeError) as e:
        error = f"bad body ({type(e).__name__}): {r.text[:200]}"
        return Outcome(seconds, error=error, kind="bad body")
    return Outcome(seconds, answer=answer)


def sequential(url: str, items: Sequence[Item], timeout: float) -> list[Outcome]:
    """Every question once, in file order, one at a time."""
    with client(timeout) as http:
        return [ask(http, url, item) for item in items]


@dataclass
class Level:
    """The result of one concurrency level."""

    clients: int
    seconds: float  # asked for
    wall: float = 0.0  # first request to last answer, the drain after the deadline included
    latencies: list[float] = field(default_factory=list)  # of the 200 responses
    errors: Counter[str] = field(default_factory=Counter)  # cause -> count, mismatches included
    examples: dict[str, str] = field(default_factory=dict)  # cause -> one full message
    score_diffs: int = 0  # identical text and chunks, but some source score differs
    budget_hit: bool = False
    server_cpu: float = 0.0  # seconds of server CPU during the level
    loop_cpu: float = 0.0  # of which its main thread (the event loop)
    client_cpu: float = 0.0  # seconds of this process's CPU during the level
    other_cpu: float = 0.0  # seconds of everything else's CPU on the machine during the level
    max_threads: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies) + sum(
            n for cause, n in self.errors.items() if not cause.startswith("mismatch")
        )

    @property
    def answers(self) -> int:
        return len(self.latencies)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def run_level(
    url: str,
    items: Sequence[Item],
    reference: Sequence[dict[str, Any]],
    clients: int,
    seconds: float,
    max_requests: int,
    timeout: float,
    seed: int,
) -> Level:
    """``clients`` threads, each with its own connection and its own shuffled question order,
    asking back to back until ``seconds`` pass or ``max_requests`` have been started."""
    level = Level(clients, seconds)
    lock = threading.Lock()
    started = [0]  # requests started, all threads together: the count bound
    deadline = [0.0]
    cpu0 = [resource.getrusage(resource.RUSAGE_SELF)]

    def go() -> None:
        # Run by the barrier once every client has its connection pool ready (building one
        # takes a while: an SSL context each), before any thread is released: the clock
        # starts when the first request can go out, and every thread sees the deadline.
        cpu0[0] = resource.getrusage(resource.RUSAGE_SELF)
        deadline[0] = time.perf_counter() + seconds

    start = threading.Barrier(clients + 1, action=go)

    def take_ticket() -> bool:
        with lock:
            if started[0] >= max_requests:
                level.budget_hit = True
                return False
            started[0] += 1
            return True

    def record(i: int, outcome: Outcome) -> None:
        cause = outcome.kind
        score_diff = False
        if outcome.answer is not None:
            expected = reference[i]
            if key_of(outcome.answer) != key_of(expected):
                got_ids = key_of(outcome.answer)[1]
                cause = f"mismatch on {items[i]['id']}"
                outcome.error = (
                    f"{cause}: got {outcome.answer['answer'][:80]!r} {list(got_ids)}, expected "
                    f"{expected['answer'][:80]!r} {list(key_of(expected)[1])}"
                )
            elif [s["score"] for s in outcome.answer["sources"]] != [
                s["score"] for s in expected["sources"]
            ]:
                score_diff = True
        with lock:
            level.score_diffs += score_diff
            if outcome.answer is not None:
                level.latencies.append(outcome.seconds)
            if cause is not None:
                # Count by kind, keep one full message of each.
                level.errors[cause] += 1
                level.examples.setdefault(cause, outcome.error or cause)

    def worker(n: int) -> None:
        # A different order per client: all clients asking the same question at once would
        # hide any dependence of an answer on what else is being answered.
        order = list(range(len(items)))
        random.Random(seed + n).shuffle(order)
        with client(timeout) as http:
            start.wait()
            k = 0
            while time.perf_counter() < deadline[0] and take_ticket():
                i = order[k % len(order)]
                k += 1
                record(i, ask(http, url, items[i]))

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = deadline[0] - seconds
    # A request started just before the deadline may take up to ``timeout`` to finish.
    drained = deadline[0] + timeout + 5.0
    for t in threads:
        t.join(max(0.0, drained - time.perf_counter()))
    level.wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    level.client_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0[0].ru_utime + cpu0[0].ru_stime)
    if any(t.is_alive() for t in threads):
        level.errors["client thread still running after the drain"] += 1
    return level


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{1000 * seconds:.0f}"


def level_row(level: Level) -> list[str]:
    lat = level.latencies
    cores = os.cpu_count() or 1

    def share(cpu: float) -> str:
        return f"{100 * cpu / level.wall / cores:.0f}%" if level.wall else "-"

    return [
        str(level.clients),
        f"{level.seconds:.0f} ({level.wall:.1f})",
        str(level.requests),
        f"{level.answers / level.wall:.1f}" if level.wall else "-",
        ms(percentile(lat, 50)),
        ms(percentile(lat, 95)),
        ms(max(lat, default=0.0)),
        str(level.error_count),
        str(level.score_diffs),
        ms(level.server_cpu / level.answers) if level.answers else "-",
        share(level.server_cpu),
        f"{100 * level.loop_cpu / level.server_cpu:.0f}%" if level.server_cpu else "-",
        share(level.client_cpu),
        share(max(0.0, level.other_cpu)),
        str(level.max_threads),
    ]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def errors_text(level: Level) -> str:
    if not level.errors:
        return ""
    parts = [f"{n} × {level.examples.get(kind, kind)}" for kind, n in level.errors.most_common()]
    return f"- {level.clients} clients: " + "; ".join(parts)


@dataclass
class Run:
    """Everything the section reports."""

    argv: list[str]
    load_at_start: tuple[float, float, float]
    max_concurrency: int
    start_seconds: float
    questions: int
    seq_latencies: list[float]
    seq_errors: list[str]
    levels: list[Level]
    after_mismatches: list[str]
    peak_rss_mb: float
    rss_mb: float
    max_requests: int
    profile: str | None  # summary of the py-spy samples of the main level, with --profile


def section(run: Run) -> str:
    header = [
        "clients",
        "s asked (wall)",
        "requests",
        "answers/s",
        "p50 ms",
        "p95 ms",
        "max ms",
        "errors",
        "score diffs",
        "server CPU ms/answer",
        "server CPU",
        "of which event loop",
        "client CPU",
        "other CPU",
        "server threads (max)",
    ]
    clean = all(not lv.errors for lv in run.levels) and not run.seq_errors
    identical = all(not any(k.startswith("mismatch") for k in lv.errors) for lv in run.levels)
    seq = run.seq_latencies
    cores = os.cpu_count() or 1
    lines = [
        machine(run.load_at_start),
        "",
        f"Command: `.venv/bin/python {shlex.join(['bench/load.py', *run.argv])}`. "
        f"`sanad serve` on 127.0.0.1 (loopback only), default settings "
        f"(`SANAD_MAX_CONCURRENCY={run.max_concurrency}`: that many answers are computed at "
        "once, the rest wait in the queue) except `SANAD_RATE_LIMIT_PER_MINUTE=0`: all clients "
        f"share one address. Server start to healthy: {run.start_seconds:.1f} s. "
        f"{cores} CPUs for the server and the clients together.",
        "",
        f"Reference: the {run.questions} questions of `tests/data/dev.jsonl` (follow-ups with "
        "their history, unanswerable ones included), asked one at a time: "
        f"p50 {ms(percentile(seq, 50))} ms, p95 {ms(percentile(seq, 95))} ms over HTTP"
        + (f"; {len(run.seq_errors)} failed: {run.seq_errors[:3]}" if run.seq_errors else "")
        + ".",
        "",
        table(header, [level_row(lv) for lv in run.levels]),
        "",
        "- Each client thread has its own HTTP connection and asks back to back, cycling through "
        "the questions in its own shuffled order, until the time is up or the request budget "
        f"({run.max_requests} per level; "
        + (
            "reached at "
            + ", ".join(f"{lv.clients}" for lv in run.levels if lv.budget_hit)
            + " clients"
            if any(lv.budget_hit for lv in run.levels)
            else "not reached"
        )
        + ") is spent; requests in flight at the deadline finish and count, so the wall time "
        "includes that drain. answers/s = 200 answers / wall time. Latency is per request at "
        "the client, queueing included.",
        "- errors = non-200 responses + timeouts/transport errors + answers whose `answer` text "
        "or `sources` chunk ids (in order) differ from the sequential reference. score diffs = "
        "answers identical in text and chunks whose rounded source scores differ (not errors).",
        "- CPU = CPU seconds over wall seconds, as a share of all cores: the server, this "
        "script's client threads, and everything else on the machine (other people's jobs on "
        'this shared box, from `/proc/stat`). "of which event loop" = the server\'s main '
        "thread (uvicorn's asyncio loop: HTTP, JSON, validation) as a share of the server's CPU; "
        "the rest is the answer worker threads. server threads = the largest `Threads:` seen in "
        "`/proc/PID/status`, sampled every 0.5 s.",
        f"- Server peak RSS (`VmHWM`) after all levels: {run.peak_rss_mb:.0f} MB "
        f"(RSS at the end {run.rss_mb:.0f} MB).",
    ]
    if run.profile:
        lines.append(
            f"- Profile of the server during the {run.levels[-1].clients}-client run (py-spy, "
            f'50 Hz, non-blocking; waits excluded; its own CPU is in "other CPU"): {run.profile} '
            "The event loop's part is the CPU column above."
        )
    if run.after_mismatches:
        lines.append(
            "- Sequential pass after the load: differs from the reference on "
            + ", ".join(run.after_mismatches)
        )
    else:
        lines.append("- Sequential pass after the load: identical to the reference.")
    lines.append("")
    if clean:
        lines.append(
            "Result: zero errors at every level; every concurrent answer was identical (text and "
            "cited chunks) to the sequential one."
        )
    else:
        lines.append(
            "Result: "
            + ("answers identical to the sequential ones; " if identical else "")
            + "errors, by cause:"
        )
        lines += [t for t in (errors_text(lv) for lv in run.levels) if t]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Optional profile of the server during the main level (py-spy, not a project dependency)
# ---------------------------------------------------------------------------------------------

PY_SPY = Path(sys.executable).parent / "py-spy"
# A sample whose innermost frame is one of these is a thread waiting, not working: py-spy's own
# idle detection lets some of them through.
_IDLE_LEAVES = ("Condition.wait", "EpollSelector.select", "Queue.get", "Event.wait")
# Where a worker thread's sample goes, first match wins (substrings of the stack).
_WORKER_PARTS = (
    ("tokenising the query (torch path)", ("embed_query", "okeniz")),
    ("embedding the query (tokenizer and model forward)", ("embed_query",)),
    ("retrieval scoring (FAISS, BM25, names)", ("retrieval.py",)),
    ("choosing the quote (qa/extractive.py)", ("extractive.py",)),
    ("other answer code (qa/)", ("(qa/",)),
)


def start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy recording ``pid`` for ``seconds`` into ``out`` (raw collapsed stacks). Non-blocking:
    pausing the server 50 times a second would slow the very thing being measured."""
    return subprocess.Popen(
        [
            str(PY_SPY), "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
            "--rate", "50", "--format", "raw", "--output", str(out), "--threads",
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def summarise_profile(raw: Path, pid: int) -> str:
    """Where the answer worker threads' busy samples went, by step. The main thread (the event
    loop) is left out: py-spy's busy/idle call for it disagrees between blocking and
    non-blocking sampling (23% and 1% of samples in two runs here), while its CPU time from
    /proc, in the table, is exact."""
    parts: Counter[str] = Counter()
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or frames[-1].startswith(_IDLE_LEAVES):
            continue
        if frames[0].startswith(f"thread ({pid})"):  # the main thread's id is the pid
            continue
        part = next(
            (name for name, keys in _WORKER_PARTS if all(k in stack for k in keys)),
            "other worker code (serialising the answer, anyio)",
        )
        parts[part] += int(count)
    total = sum(parts.values())
    if not total:
        return "py-spy recorded no busy worker samples."
    shares = "; ".join(f"{name} {100 * n / total:.0f}%" for name, n in parts.most_common())
    return f"{total} busy samples of the answer worker threads: {shares}."


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--clients", type=int, default=32, help="client threads in the main run")
    p.add_argument("--seconds", type=float, default=60.0, help="duration of the main run")
    p.add_argument(
        "--compare",
        default="1,8",
        help="client counts run first for comparison, comma-separated ('' for none)",
    )
    p.add_argument("--compare-seconds", type=float, default=20.0)
    p.add_argument("--max-requests", type=int, default=20_000, help="request budget of each level")
    p.add_argument("--timeout", type=float, default=60.0, help="per request, in seconds")
    p.add_argument("--start-timeout", type=float, default=300.0)
    p.add_argument("--seed", type=int, default=0, help="seeds the clients' question orders")
    p.add_argument("--questions", type=Path, default=DEV)
    p.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    p.add_argument(
        "--profile",
        action="store_true",
        help="sample the server with py-spy (pip install py-spy) during the main run",
    )
    args = p.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.max_requests < 1:
        p.error("--clients, --seconds and --max-requests must be positive")
    if args.profile and not PY_SPY.exists():
        p.error(f"--profile needs py-spy in the venv ({PY_SPY}): .venv/bin/pip install py-spy")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    compare = [int(c) for c in args.compare.split(",") if c.strip()]
    plan = [(c, args.compare_seconds) for c in compare] + [(args.clients, args.seconds)]
    items = load_items(args.questions)
    load_at_start = os.getloadavg()

    profile: str | None = None
    with tempfile.TemporaryFile() as log, tempfile.TemporaryDirectory() as log_dir:
        server = Server(log, {})
        try:
            start_seconds = server.wait_healthy(args.start_timeout)
            print(f"server healthy after {start_seconds:.1f} s on {server.url}", flush=True)
            seq = sequential(server.url, items, args.timeout)
            failed = [f"{it['id']}: {o.error}" for it, o in zip(items, seq, strict=True) if o.error]
            if failed:
                # Without a reference answer for every question there is nothing to compare to.
                raise RuntimeError(f"sequential pass failed: {failed[:3]}\n{server.log_tail()}")
            reference = [o.answer for o in seq if o.answer is not None]
            levels = []
            for n, (clients, seconds) in enumerate(plan):
                (cpu0, loop0), busy0 = server.cpu_seconds(), machine_busy_seconds()
                spy = None
                if args.profile and n == len(plan) - 1:
                    # Stops before the deadline so that the drain, with fewer clients, is not in it.
                    spy = start_profile(server.proc.pid, seconds - 2, Path(log_dir) / "spy.txt")
                with Sampler(server).running() as sampler:
                    level = run_level(
                        server.url,
                        items,
                        reference,
                        clients,
                        seconds,
                        args.max_requests,
                        args.timeout,
                        args.seed + 1000 * n,
                    )
                cpu1, loop1 = server.cpu_seconds()
                level.server_cpu, level.loop_cpu = cpu1 - cpu0, loop1 - loop0
                busy = machine_busy_seconds() - busy0
                level.other_cpu = busy - level.server_cpu - level.client_cpu
                level.max_threads = sampler.max_threads
                if spy is not None:
                    _, err = spy.communicate(timeout=60)
                    raw = Path(log_dir) / "spy.txt"
                    profile = (
                        summarise_profile(raw, server.proc.pid)
                        if spy.returncode == 0 and raw.exists()
                        else f"py-spy failed: {err.decode(errors='replace').strip()[-300:]}"
                    )
                    print(profile, flush=True)
                levels.append(level)
                print(table([], [level_row(level)]).splitlines()[-1], flush=True)
                if errors_text(level):
                    print(errors_text(level), flush=True)
            after = sequential(server.url, items, args.timeout)
            after_mismatches = [
                it["id"]
                for it, o, ref in zip(items, after, reference, strict=True)
                if o.answer is None or key_of(o.answer) != key_of(ref)
            ]
            status = server.status()
            if server.proc.poll() is not None:
                raise RuntimeError(f"sanad serve died during the test:\n{server.log_tail()}")
        finally:
            server.stop()
        server_log = server.log_tail(40)

    run = Run(
        argv=list(sys.argv[1:] if argv is None else argv),
        load_at_start=load_at_start,
        # The server reads the same variables, so this is the value it runs with.
        max_concurrency=Settings.from_env(server.env).max_concurrency,
        start_seconds=start_seconds,
        questions=len(items),
        seq_latencies=[o.seconds for o in seq],
        seq_errors=failed,
        levels=levels,
        after_mismatches=after_mismatches,
        peak_rss_mb=status["VmHWM"] / 1024,
        rss_mb=status["VmRSS"] / 1024,
        max_requests=args.max_requests,
        profile=profile,
    )
    text = section(run)
    print(f"\n## {HEADING}\n\n{text}")
    if "Traceback" in server_log or "ERROR" in server_log:
        print(f"\nserver log (tail):\n{server_log}", file=sys.stderr)
    if not args.no_write:
        write_section(HEADING, text)
    return 0 if all(not lv.errors for lv in levels) and not after_mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
