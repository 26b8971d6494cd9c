"""``sanad serve`` under attack: honest clients beside a mix of floods, their latency compared
with the same clients alone. Loopback only; every loop is bounded in count and time.

Run: ``.venv/bin/python bench/attack.py`` (about 3.5 minutes with the server's start and its
own index build): ``--baseline`` s of honest clients alone, ``--seconds`` s of the same clients
while the attacks run, and ``--baseline`` s alone again (the machine is shared: the calm phase
before and after shows how much its other load moved). ``--no-write`` leaves RESULTS.md alone.
``--serve-from DIR`` serves another checkout instead (``python -m ui`` run in DIR, so that its
packages are imported, with this venv's): ``--serve-from ../base --no-write`` measures an older
commit the same way.

The server is the venv's ``sanad serve`` with its default limits (120 requests a minute per
client, a queue of 64, 1000 connections) and ``SANAD_TRUSTED_PROXIES=127.0.0.1``: every client
here connects from 127.0.0.1, so each one says who it is in ``X-Forwarded-For``, as a reverse
proxy in front of sanad would for it. Honest clients are 16 threads, each its own client
(10.0.0.N) with one keep-alive connection made before the attack and kept throughout, asking
the questions of ``tests/data/dev.jsonl`` (``--questions``), with their history, at one a second,
within the rate limit; each answer must equal the sequential one. The attacks all come from one
attacker (198.51.100.1), or from ``--attackers N`` addresses in turn (a botnet, which the
per-client rate limit does not stop), in processes of their own at the lowest CPU priority
(``nice 19``: an attacker's CPU is not the server's, so they get only the cores the server
leaves idle):

* **unread submissions**: 8 threads posting ``/gradio_api/call/ask`` back to back and never
  reading a result;
* **18 MB bodies**: ``POST /gradio_api/call/ask`` with an 18 MB ``history_json``, declared
  (``Content-Length``) and chunked, each sent until the server answers;
* **idle connections**: 20,000 sockets opened and left silent, in two processes (one process
  may hold at most ``ulimit -n``, 20,000 here, files) from 16 loopback addresses each (from
  one, held and closed sockets would use up its ephemeral ports), each reopened when the server
  closes it, at most 200 a second per process;
* **bad JSON**: NaN, Infinity, a 5,000-digit number, bad UTF-8, nesting 50,000 deep, to
  ``/api/ask`` and ``/gradio_api/call/ask``.

A health probe (``GET /api/health``, no identity) runs every 0.5 s throughout, on a new
connection each time: it is what a client arriving during the attack meets. After the attack:
a fresh client's ``/gradio_api/call/ask`` must be answered (the chat's queue still runs), and
the server's log growth, peak open files and RSS are reported.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import random
import resource
import select
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

# An attacker process runs this file again with --attacker and must start fast at nice 19, so
# the benchmark's own modules (which import all of sanad) are imported in main() only.

HEADING = "Under attack"
HONEST_CLIENTS = 16
HONEST_PER_SECOND = 1.0
IDLE_SOURCES = 16  # loopback source addresses per idle process, 28,000 ephemeral ports each
BIG_BODY = 18 * 1024 * 1024
IDLE_PROCESSES = 2
REOPEN_PER_SECOND = 200
BAD_BODIES = [
    b'{"question": NaN}',
    b'{"question": "x", "top_k": Infinity}',
    b'{"question": "x", "top_k": ' + b"9" * 5000 + b"}",
    b'{"question": "\xff\xfe"}',
    b"[" * 50_000,
    b'{"question": ',
]


# ---------------------------------------------------------------------------------------------
# Honest clients
# ---------------------------------------------------------------------------------------------


@dataclass
class Honest:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies.append(seconds)
            if error:
                self.errors[error] += 1


def honest_http() -> list[httpx.Client]:
    """The honest clients' HTTP clients, one connection each, kept for the whole run."""
    return [
        httpx.Client(
            timeout=60,
            trust_env=False,
            headers={"X-Forwarded-For": f"10.0.0.{n + 1}"},
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        for n in range(HONEST_CLIENTS)
    ]


def honest_clients(
    clients: Sequence[httpx.Client],
    url: str,
    items: Sequence[dict[str, Any]],
    reference: Sequence[Any],
    seconds: float,
) -> Honest:
    """One thread per client for ``seconds``, each asking at ``HONEST_PER_SECOND``."""
    from load import body_of, key_of

    out = Honest()
    deadline = time.monotonic() + seconds

    def run(n: int) -> None:
        order = list(range(len(items)))
        random.Random(n).shuffle(order)
        http = clients[n]
        next_at = time.monotonic() + random.Random(n).random() / HONEST_PER_SECOND
        i = 0
        while (now := time.monotonic()) < deadline:
            if now < next_at:
                time.sleep(min(next_at - now, deadline - now))
                continue
            next_at += 1 / HONEST_PER_SECOND
            k = order[i % len(order)]
            i += 1
            t0 = time.perf_counter()
            error = None
            try:
                r = http.post(f"{url}/api/ask", json=body_of(items[k]))
                if r.status_code != 200:
                    error = f"HTTP {r.status_code}: {r.text[:100]}"
                elif key_of(r.json()) != key_of(reference[k]):
                    error = "answer differs from the sequential one"
            except httpx.HTTPError as e:
                error = type(e).__name__
            out.record(time.perf_counter() - t0, error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


# ---------------------------------------------------------------------------------------------
# Attacks, each in a process of its own (run by ``attack``)
# ---------------------------------------------------------------------------------------------


def _threads(n: int, work: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def attacker(n: int, addresses: int) -> str:
    """The ``n``th request's client: one of ``addresses`` in 198.51.100.0/22."""
    k = n % addresses
    return f"198.51.{100 + k // 250}.{k % 250 + 1}"


def unread_flood(url: str, seconds: float, limit: int, addresses: int) -> dict[str, Any]:
    codes: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    sent = 0

    def work(i: int) -> None:
        nonlocal sent
        with httpx.Client(timeout=30, trust_env=False) as http:
            while time.monotonic() < deadline:
                with lock:
                    if sent >= limit:
                        return
                    n = sent
                    sent += 1
                try:
                    code = str(
                        http.post(
                            f"{url}/gradio_api/call/ask",
                            json={"data": ["كم عدد القتلى في هجوم موسكو؟", "[]"]},
                            headers={"X-Forwarded-For": attacker(n, addresses)},
                        ).status_code
                    )
                except httpx.HTTPError as e:
                    code = type(e).__name__
                with lock:
                    codes[code] += 1

    _threads(8, work)
    return {"requests": sum(codes.values()), "codes": dict(codes)}


def _raw_until_answered(port: int, head: bytes, pieces: Any, who: str) -> tuple[str, int]:
    """Send ``head`` then ``pieces`` until the server answers; (status, body bytes sent)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head.replace(b"\r\n\r\n", f"\r\nX-Forwarded-For: {who}\r\n\r\n".encode(), 1))
        for piece in pieces:
            if select.select([s], [], [], 0)[0]:  # answered: stop sending
                break
            try:
                s.sendall(piece)
            except OSError:
                break
            sent += len(piece)
        try:
            reply = s.recv(4096)
        except OSError as e:
            return type(e).__name__, sent
    return (reply.split(b" ", 2)[1].decode() if reply.count(b" ") >= 2 else "closed"), sent


def big_bodies(url: str, seconds: float, limit: int, addresses: int) -> dict[str, Any]:
    port = int(url.rsplit(":", 1)[1])
    history = json.dumps([{"role": "user", "content": "x" * 1000}] * 18_000)
    body = json.dumps({"data": ["x", history]}).encode()[:BIG_BODY]
    head = (
        b"POST /gradio_api/call/ask HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n"
    )
    codes: Counter[str] = Counter()
    most_sent = 0
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline and n < limit:
        who = attacker(n, addresses)
        if n % 2 == 0:
            pieces: Any = (body[i : i + 65536] for i in range(0, len(body), 65536))
            req = head + f"Content-Length: {len(body)}\r\n\r\n".encode()
        else:
            pieces = (
                f"{len(body[i : i + 65536]):x}\r\n".encode() + body[i : i + 65536] + b"\r\n"
                for i in range(0, len(body), 65536)
            )
            req = head + b"Transfer-Encoding: chunked\r\n\r\n"
        code, sent = _raw_until_answered(port, req, pieces, who)
        codes[code] += 1
        most_sent = max(most_sent, sent)
        n += 1
    return {"requests": n, "codes": dict(codes), "most_body_bytes_sent": most_sent}


def idle_connections(url: str, seconds: float, count: int, addresses: int) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port = int(url.rsplit(":", 1)[1])
    sel = selectors.DefaultSelector()
    opened = closed_by_server = failed = 0
    errors: Counter[str] = Counter()

    # From several loopback addresses: from one, the sockets held and those the server closed
    # (TIME_WAIT) would use up its ephemeral ports, and connecting would crawl, then fail. The
    # sockets send nothing, so who they are does not matter.
    sources = [f"127.0.{k + 1}.{os.getpid() % 250 + 1}" for k in range(IDLE_SOURCES)]

    def open_one() -> bool:
        nonlocal opened, failed
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((sources[opened % IDLE_SOURCES], 0))
        err = s.connect_ex(("127.0.0.1", port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            failed += 1
            errors[errno.errorcode.get(err, str(err))] += 1
            return False
        sel.register(s, selectors.EVENT_READ)
        opened += 1
        return True

    start = time.monotonic()
    deadline = start + seconds
    held_peak = 0
    for _ in range(count):
        try:
            if not open_one():
                break
        except OSError as e:  # EMFILE: this process's own limit
            errors[type(e).__name__ + " " + errno.errorcode.get(e.errno or 0, "")] += 1
            break
    seconds_to_open = time.monotonic() - start
    reopen_budget, budget_at = 0.0, time.monotonic()
    while time.monotonic() < deadline:
        held_peak = max(held_peak, len(sel.get_map()))
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            try:
                data = s.recv(1)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()  # type: ignore[union-attr]
                closed_by_server += 1
        now = time.monotonic()
        refill = (now - budget_at) * REOPEN_PER_SECOND
        reopen_budget = min(REOPEN_PER_SECOND, reopen_budget + refill)
        budget_at = now
        while reopen_budget >= 1 and len(sel.get_map()) < count:
            reopen_budget -= 1
            try:
                if not open_one():
                    break
            except OSError as e:
                errors[type(e).__name__] += 1
                break
    for key in list(sel.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    return {
        "opened": opened,
        "seconds_to_open_the_first": round(seconds_to_open, 1),
        "held_at_once_peak": held_peak,
        "closed_by_server": closed_by_server,
        "connect_failures": failed,
        "errors": dict(errors),
        "fd_limit": [soft, hard],
    }


def bad_json(url: str, seconds: float, limit: int, addresses: int) -> dict[str, Any]:
    codes: Counter[str] = Counter()
    one_line_json = True
    deadline = time.monotonic() + seconds
    n = 0
    with httpx.Client(timeout=30, trust_env=False) as http:
        while time.monotonic() < deadline and n < limit:
            route = ("/api/ask", "/gradio_api/call/ask")[n % 2]
            body = BAD_BODIES[(n // 2) % len(BAD_BODIES)]
            headers = {
                "Content-Type": "application/json",
                "X-Forwarded-For": attacker(n, addresses),
            }
            try:
                r = http.post(f"{url}{route}", content=body, headers=headers)
                codes[str(r.status_code)] += 1
                one_line_json &= "\n" not in r.text and isinstance(r.json(), dict)
            except (httpx.HTTPError, ValueError) as e:
                codes[type(e).__name__] += 1
                one_line_json = False
            n += 1
    return {"requests": n, "codes": dict(codes), "all_one_line_json": one_line_json}


ATTACKS: dict[str, Callable[[str, float, int, int], dict[str, Any]]] = {
    "unread submissions": unread_flood,
    "18 MB bodies": big_bodies,
    "idle connections": idle_connections,
    "bad JSON": bad_json,
}


def start_attack(
    name: str, url: str, seconds: float, limit: int, addresses: int
) -> subprocess.Popen[str]:
    """``ATTACKS[name]`` in a process of its own at nice 19; its result is its stdout, JSON."""
    command = [
        sys.executable,
        __file__,
        "--attacker",
        name,
        url,
        str(seconds),
        str(limit),
        str(addresses),
    ]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, preexec_fn=lambda: os.nice(19)
    )


# ---------------------------------------------------------------------------------------------
# The server, watched
# ---------------------------------------------------------------------------------------------


class Watch:
    """Samples the server's open files and RSS, and probes its health, every 0.5 s; and takes
    the CPU seconds of the server, of this process, of the attackers (children that have been
    waited for) and of the whole machine over the phase."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.max_fds = 0
        self.max_rss_kb = 0
        self.health: Counter[str] = Counter()
        self.cpu: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _cpu_now(self) -> dict[str, float]:
        from load import machine_busy_seconds

        own, children = os.times(), resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "server": self.server.cpu_seconds()[0],
            "bench": own.user + own.system,
            "attackers": children.ru_utime + children.ru_stime,
            "machine": machine_busy_seconds(),
            "wall": time.monotonic(),
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.max_fds = max(
                    self.max_fds, len(os.listdir(f"/proc/{self.server.proc.pid}/fd"))
                )
                self.max_rss_kb = max(self.max_rss_kb, self.server.status().get("VmRSS", 0))
            except OSError:
                return
            # A new connection each time: what a client arriving now meets.
            try:
                r = httpx.get(f"{self.server.url}/api/health", timeout=10, trust_env=False)
                code = str(r.status_code)
            except httpx.HTTPError as e:
                code = type(e).__name__
            self.health[code] += 1
            self._stop.wait(0.5)

    def __enter__(self) -> Watch:
        self._start = self._cpu_now()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def finish(self) -> None:
        """CPU shares (of all cores) since the phase began; call once its children are waited."""
        end = self._cpu_now()
        spent = {k: end[k] - self._start[k] for k in end}
        cores = (os.cpu_count() or 1) * spent.pop("wall")
        spent["other"] = spent.pop("machine") - sum(spent.values())
        self.cpu = {k: 100 * v / cores for k, v in spent.items()}


def log_bytes(log: Any) -> int:
    log.flush()
    return os.fstat(log.fileno()).st_size


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--attacker"]:
        name, url, seconds, limit, addresses = argv[1:6]
        print(json.dumps(ATTACKS[name](url, float(seconds), int(limit), int(addresses))))
        return 0
    from common import machine, percentile, write_section
    from load import DEV, Server, load_items, sequential

    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--baseline", type=float, default=30.0, help="seconds of honest clients alone")
    p.add_argument("--seconds", type=float, default=60.0, help="seconds under attack")
    p.add_argument("--idle", type=int, default=20_000, help="idle connections, in all")
    p.add_argument("--max-requests", type=int, default=200_000, help="per attack")
    p.add_argument("--only", choices=list(ATTACKS), action="append", help="run just these")
    p.add_argument(
        "--attackers", type=int, default=1, help="addresses the attacks come from (a botnet)"
    )
    p.add_argument("--questions", type=Path, default=DEV, help="JSONL of the honest questions")
    p.add_argument("--serve-from", type=Path, help="a checkout to serve instead of this venv's")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    items = load_items(args.questions)
    load_at_start = os.getloadavg()
    with tempfile.TemporaryFile() as log, tempfile.TemporaryDirectory() as index_dir:
        # "" is unset: the default rate limit, which load.py's Server turns off. An index of its
        # own: the user's cache may hold one another checkout built in another format.
        limits = {
            "SANAD_RATE_LIMIT_PER_MINUTE": "",
            "SANAD_TRUSTED_PROXIES": "127.0.0.1",
            "SANAD_INDEX_DIR": index_dir,
        }
        if args.serve_from:
            server = Server(log, limits, [sys.executable, "-m", "ui"], args.serve_from)
        else:
            server = Server(log, limits)
        try:
            started = server.wait_healthy(300)
            print(f"server healthy after {started:.1f} s on {server.url}", flush=True)
            reference = [o.answer for o in sequential(server.url, items, 60)]
            if any(a is None for a in reference):
                raise RuntimeError("the sequential pass failed")

            http = honest_http()
            before = log_bytes(log)
            with Watch(server) as calm:
                alone = honest_clients(http, server.url, items, reference, args.baseline)
            calm.finish()
            rows = [
                phase_row(
                    "honest clients alone", alone, calm, log_bytes(log) - before, args.baseline
                )
            ]
            print(rows[-1], flush=True)

            procs = []
            for name in args.only or ATTACKS:
                copies = IDLE_PROCESSES if name == "idle connections" else 1
                limit = args.idle // IDLE_PROCESSES if copies > 1 else args.max_requests
                procs += [
                    (name, start_attack(name, server.url, args.seconds, limit, args.attackers))
                    for _ in range(copies)
                ]
            time.sleep(2)  # the attackers' start (Python, httpx), so that they overlap fully
            before = log_bytes(log)
            with Watch(server) as under:
                attacked = honest_clients(http, server.url, items, reference, args.seconds)
            outcomes: dict[str, list[dict[str, Any]]] = {}
            for name, proc in procs:
                out, _ = proc.communicate(timeout=120)
                outcomes.setdefault(name, []).append(json.loads(out))
            under.finish()
            before_after = log_bytes(log)
            with Watch(server) as calm_again:
                after_alone = honest_clients(http, server.url, items, reference, args.baseline)
            calm_again.finish()
            rows.append(
                phase_row("under attack", attacked, under, before_after - before, args.seconds)
            )
            rows.append(
                phase_row(
                    "honest clients alone, after",
                    after_alone,
                    calm_again,
                    log_bytes(log) - before_after,
                    args.baseline,
                )
            )
            print(rows[-2], rows[-1], sep="\n", flush=True)

            # The chat's queue still runs: a fresh client's call is answered.
            with httpx.Client(
                timeout=60, trust_env=False, headers={"X-Forwarded-For": "10.0.1.1"}
            ) as http:
                event = http.post(
                    f"{server.url}/gradio_api/call/ask",
                    json={"data": ["كم عدد القتلى في هجوم موسكو؟", "[]"]},
                )
                if event.status_code != 200:  # a stopped queue refuses it
                    chat_after = f"HTTP {event.status_code} {event.text[:100]}"
                else:
                    after = http.get(f"{server.url}/gradio_api/call/ask/{event.json()['event_id']}")
                    chat_after = "answered" if "event: complete" in after.text else after.text[:200]
                health_after = http.get(f"{server.url}/api/health").json()["status"]
            status = server.status()
        finally:
            server.stop()
            log_tail = server.log_tail(8)

    # Against the worse of the two calm phases: the machine is shared, and its other load moves
    # the baseline by more than sanad does.
    calm_p95 = max(percentile(alone.latencies, 95), percentile(after_alone.latencies, 95))
    ratio = percentile(attacked.latencies, 95) / max(calm_p95, 1e-9)
    body = "\n".join(
        [
            machine(load_at_start),
            "",
            f"Command: `.venv/bin/python bench/attack.py{' ' + ' '.join(argv) if argv else ''}`. "
            + __doc__.split("\n\n")[2].replace("\n", " "),
            "",
            "| phase | s | honest requests | honest errors | p50 ms | p95 ms | max ms | "
            "health probes | CPU: server / clients / attackers / other | "
            "server open files (max) | server RSS MB (max) | log KiB written |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "- CPU: CPU seconds over the phase as a share of all cores: the server, this "
            "script's honest clients (and probes), the attackers (at nice 19), and everything "
            "else on this shared machine (from `/proc/stat`).",
            f"- Honest p95 under attack / alone (the higher of the two calm phases): "
            f"{ratio:.2f}× (the goal: at most 3×). Honest errors under attack: "
            f"{dict(attacked.errors) or 'none'}.",
            *(
                f"- {name}: " + "; ".join(json.dumps(o, ensure_ascii=False) for o in outs)
                for name, outs in outcomes.items()
            ),
            f"- After the attack: a fresh client's `/gradio_api/call/ask`: {chat_after}; "
            f"`/api/health`: {health_after}; server peak RSS (`VmHWM`) {status['VmHWM'] / 1024:.0f}"
            " MB.",
            "- The server's last log lines: "
            + (" / ".join(f"`{line.strip()}`" for line in log_tail.splitlines()) or "none"),
        ]
    )
    print(body)
    if not args.no_write:
        write_section(HEADING, body)
    return 0 if not attacked.errors and ratio <= 3 else 1


def phase_row(name: str, honest: Honest, watch: Watch, log_growth: int, seconds: float) -> str:
    from common import percentile

    lat = honest.latencies
    health = ", ".join(f"{n}× {c}" for c, n in sorted(watch.health.items()))
    cpu = " / ".join(f"{watch.cpu[k]:.0f}%" for k in ("server", "bench", "attackers", "other"))
    return (
        f"| {name} | {seconds:.0f} | {len(lat)} | {sum(honest.errors.values())} | "
        f"{1000 * percentile(lat, 50):.0f} | {1000 * percentile(lat, 95):.0f} | "
        f"{1000 * max(lat, default=0):.0f} | {health} | {cpu} | {watch.max_fds} | "
        f"{watch.max_rss_kb / 1024:.0f} | {log_growth / 1024:.1f} |"
    )


if __name__ == "__main__":
    sys.exit(main())
