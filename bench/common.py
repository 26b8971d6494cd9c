"""What the benchmark scripts share: the question files, the evidence rule, the machine
description and the RESULTS.md writer.

Each script replaces only its own ``## ...`` section of RESULTS.md, so the benchmarks can be
rerun independently without losing each other's tables. Other scripts in bench/ import
``QUESTION_FILES``, ``machine``, ``percentile`` and ``write_section``: keep them stable.
"""

from __future__ import annotations

import math
import os
import platform
import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from filelock import FileLock

# The evidence rule and the question loader are the ones `sanad eval` uses, imported rather than
# copied so that the benchmark and the eval can never disagree about what "found" means.
from qa.evaluation import holds as _has
from qa.evaluation import load_questions

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
QUESTION_FILES = {
    "dev": ROOT / "tests" / "data" / "dev.jsonl",
    "heldout": ROOT / "tests" / "data" / "heldout.jsonl",
    "heldout2": ROOT / "tests" / "data" / "heldout2.jsonl",
    "heldout3": ROOT / "tests" / "data" / "heldout3.jsonl",
}
_TITLE = "# sanad benchmarks\n\nEach section is written by a script in `bench/`; rerun it rather "
_TITLE += "than editing by hand.\n"


def questions(*, answerable_only: bool) -> list[dict[str, Any]]:
    """The dev and held-out questions, each tagged with ``file`` (its file's short name)."""
    items = []
    for name, path in QUESTION_FILES.items():
        for item in load_questions(path):
            if answerable_only and not (item.get("answerable", True) and item.get("evidence")):
                continue
            items.append({**item, "file": name})
    return items


def evidence_rank(passages: Sequence[str], evidence: Sequence[str]) -> int | None:
    """1-based rank of the first passage holding any of the evidence strings (sanad eval's rule:
    normalised, whitespace-squeezed substring), or None."""
    return next(
        (i for i, p in enumerate(passages, 1) if any(_has(p, ev) for ev in evidence)),
        None,
    )


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _code_state() -> str:
    """The commit measured, and whether the product code differed from it: several people edit
    index/, qa/ and ui/ at once, so a table is only reproducible with this."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "index", "qa", "ui"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "code: not a git checkout"
    return f"code: commit {head}" + (" plus uncommitted changes in index/ qa/ ui/" if dirty else "")


def machine(load_at_start: tuple[float, float, float]) -> str:
    """A Markdown paragraph describing where and when the numbers were taken. The load average
    is part of it because this machine is shared: latencies under load are not comparable with
    latencies on an idle box."""
    load_now = os.getloadavg()
    versions = ", ".join(
        f"{d} {_version(d)}"
        for d in ("torch", "faiss-cpu", "sentence-transformers", "langchain-community", "numpy")
    )
    return (
        f"Run {time.strftime('%Y-%m-%d %H:%M %Z')} on {os.cpu_count()} CPUs ({_cpu_model()}), "
        f"{_ram_gib()} RAM; Python {platform.python_version()}, {versions}. "
        f"Load average (1 min) {load_at_start[0]:.2f} at the start, {load_now[0]:.2f} at the end; "
        f"{_code_state()}."
    )


def write_section(heading: str, body: str) -> None:
    """Put ``## heading`` with ``body`` into RESULTS.md, replacing that section if present.

    Several scripts write here and may finish at the same moment, so the read-modify-write
    happens under a lock and the file is replaced atomically: no section is lost or torn."""
    section = f"## {heading}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    # The lock lives in the temp dir so that no stray lock file sits in the repository.
    with FileLock(str(Path(tempfile.gettempdir()) / "sanad-bench-results.lock")):
        text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else _TITLE
        if pattern.search(text):
            text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
        else:
            text = text.rstrip() + "\n\n" + section
        tmp = RESULTS.with_name(f".{RESULTS.name}.{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, RESULTS)
