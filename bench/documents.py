"""Adding an article over HTTP: how soon it can be asked, and whether it is answered as well as
``sanad eval`` answers the same article offline.

Run: ``.venv/bin/python bench/documents.py`` (about 2 minutes; ``--no-write`` leaves
RESULTS.md alone). On one in-process server on a free 127.0.0.1 port, with fresh documents and
index folders (so every index is built, none loaded):

1. ``POST /api/documents`` each article of ``tests/data/xquad-sample/articles`` (1.5k-2.7k
   characters), then the packaged article's leading paragraphs up to 3,500 and 5,000
   characters (the whole one is the server's default, already indexed), timing each from the
   request to its ``201`` (the server built the packaged
   article's index at its start, so the passage encoder is loaded: the chat loads it when
   "Add an article" is opened);
2. asks every question of ``questions.jsonl`` on its article through ``/api/ask`` with that
   ``document`` id, and the same questions through ``qa.evaluation.run`` (what ``sanad eval``
   does, on ``Assistant(document=FILE)``), and compares the answers and their scores.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from common import ROOT, machine, write_section

from qa import Assistant, Settings
from qa.evaluation import load_questions, run, summarise
from ui import create_app
from ui.server import uvicorn_config

SAMPLE = ROOT / "tests" / "data" / "xquad-sample"
PACKAGED = ROOT / "index" / "data" / "article.txt"
#: The size the readiness target is stated for ("a ~3,500-character article ready in 3 s").
TARGET_CHARS = 3500


def leading_paragraphs(text: str, limit: int) -> str:
    """The article's first paragraphs (one a line), as many as fit in ``limit`` characters."""
    kept: list[str] = []
    for line in text.splitlines():
        if kept and len("\n".join([*kept, line])) > limit:
            break
        kept.append(line)
    return "\n".join(kept)


HEADING = "Adding an article"


def serve(settings: Settings) -> tuple[str, uvicorn.Server, threading.Thread]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn_config(create_app(Assistant(settings)), settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise SystemExit("the server did not start")
        time.sleep(0.05)
    return url, server, thread


def after_a_start(settings: Settings, text: str, delays: tuple[float, ...]) -> list[float]:
    """Seconds from POST to 201 for ``text`` (made distinct each time) sent to a fresh ``sanad
    serve`` process ``delay`` seconds after it says it is listening. It answers from the cached
    index without torch; adding an article needs the passage encoder, which it loads in the
    background at start."""
    out = []
    for delay in delays:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        env = {
            **os.environ,
            "SANAD_INDEX_DIR": str(settings.index_dir),
            "SANAD_DOCUMENTS_DIR": tempfile.mkdtemp(prefix="sanad-bench-start-"),
            "SANAD_RATE_LIMIT_PER_MINUTE": "0",
        }
        command = [sys.executable, "-m", "ui", "--port", str(port)]
        with subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        ) as server:
            try:
                for line in server.stdout or ():
                    if "chat at" in line:
                        break
                time.sleep(delay)
                t0 = time.perf_counter()
                r = httpx.post(
                    f"http://127.0.0.1:{port}/api/documents",
                    json={"text": f"{text}\n({delay:g})", "name": "after a start"},
                    timeout=300,
                )
                r.raise_for_status()
                out.append(time.perf_counter() - t0)
            finally:
                server.terminate()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()
    load = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="sanad-bench-documents-"))
    settings = Settings.from_env(
        index_dir=tmp / "indexes", documents_dir=tmp / "documents", rate_limit_per_minute=0
    )
    url, server, thread = serve(settings)
    articles = sorted((SAMPLE / "articles").glob("*.txt"))
    packaged = PACKAGED.read_text(encoding="utf-8")
    uploads = [(p.name, p.read_bytes(), str(p.resolve())) for p in articles] + [
        (
            f"article.txt, paragraphs up to {limit:,} characters",
            leading_paragraphs(packaged, limit).encode(),
            None,
        )
        for limit in (TARGET_CHARS, 5000)
    ]
    rows, ids = [], {}
    try:
        with httpx.Client(base_url=url, timeout=300) as client:
            for n, (name, data, source) in enumerate(uploads):
                files = {"file": (f"upload-{n}.txt", data, "text/plain")}
                t0 = time.perf_counter()
                r = client.post("/api/documents", files=files)
                seconds = time.perf_counter() - t0
                r.raise_for_status()
                info = r.json()
                if source:
                    ids[source] = info["id"]
                rows.append((name, info["chars"], info["chunks"], seconds))
                print(f"{name}: ready in {seconds:.2f} s", file=sys.stderr)
            items = [q for q in load_questions(SAMPLE / "questions.jsonl") if q["document"] in ids]
            served: dict[str, Any] = {}
            for item in items:
                body = {"question": item["question"], "document": ids[item["document"]]}
                r = client.post("/api/ask", json=body)
                r.raise_for_status()
                served[item["id"]] = r.json()["answer"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    start_delays = (0.0, 30.0)
    started = after_a_start(settings, leading_paragraphs(packaged, TARGET_CHARS), start_delays)
    offline = run(Assistant(settings), items)
    same = sum(row.answer == served[row.id] for row in offline)
    by_doc: dict[str, list[Any]] = defaultdict(list)
    for row in offline:
        by_doc[row.document or ""].append(row)

    table = ["| article | characters | passages | POST to 201 (s) |", "|---|---|---|---|"]
    for name, chars, chunks, seconds in rows:
        table.append(f"| {name} | {chars:,} | {chunks} | {seconds:.2f} |")
    times = sorted(seconds for *_, seconds in rows)
    body = f"""{machine(load)}

`bench/documents.py`: each article of `tests/data/xquad-sample/articles`, then the packaged
article's leading paragraphs up to {TARGET_CHARS:,} and 5,000 characters, posted to
`/api/documents` of one in-process server with empty documents and index folders; the time is
from the request to the `201` (read, checked, chunked, embedded, FAISS index written and
verified, Assistant loaded), {times[0]:.2f}-{times[-1]:.2f} s. Nearly all of it is
sentence-transformers embedding the passages and their sentences on the CPU, so it grows with
the load average above (the machine is shared).

{chr(10).join(table)}

After a start: `sanad serve` answers from its cached index without loading torch, and loads the
passage encoder in the background once it listens. The packaged article's paragraphs up to
{TARGET_CHARS:,} characters posted to a fresh `sanad serve` as soon as it listens took
{started[0]:.1f} s (waiting for that encoder), and {start_delays[1]:.0f} s later
{started[1]:.1f} s.

Asked through `/api/ask` with the article's `document` id, the {len(items)} questions of
`questions.jsonl` on these articles got the same answer text as `sanad eval` gives offline
(`Assistant(document=FILE)`) for {same} of {len(items)}. The offline scores:

```
{summarise(offline)}
```
"""
    print(body)
    if not args.no_write:
        write_section(HEADING, body)
    return 0 if same == len(items) else 1


if __name__ == "__main__":
    sys.exit(main())
