"""Shared fixtures: one real Assistant (real model, real FAISS index) for the whole session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa import Assistant, Settings

DATA = Path(__file__).resolve().parent / "data"
# The project's given dev questions, copied from shared/eval/dev.jsonl (tests/data/README.md):
# a clone must test with nothing beside it.
DEV_FILE = DATA / "dev.jsonl"


def load_jsonl(path: Path) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh index folder for the session, so tests never depend on a user's cached index.
    The provisioned model stays in the user cache: converting it takes ~30 s."""
    return tmp_path_factory.mktemp("indexes")


@pytest.fixture(scope="session")
def settings(index_dir: Path) -> Settings:
    return Settings.from_env(env={}, index_dir=index_dir)


@pytest.fixture(scope="session")
def assistant(settings: Settings) -> Assistant:
    return Assistant(settings)
