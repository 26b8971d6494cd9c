"""The FAISS index on disk: built once per (document, model, chunking), verified on every load.

LangChain's ``FAISS.save_local``/``load_local`` pickle the docstore, and unpickling a file that
someone could have replaced runs their code. So the vectors go through FAISS's own binary format
and the passages through JSON, and a manifest records what the index was built from plus a
SHA-256 of each file. Anything that does not match (another document, model or chunker, a
truncated or edited file) is rebuilt, never used. Builds write into a temporary folder beside the
index and rename it into place under a file lock, so a crash or a concurrent build leaves either
the previous complete index or none.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from filelock import FileLock, Timeout
from langchain_community.docstore.in_memory import InMemoryDocstore
from langchain_community.vectorstores import FAISS
from langchain_community.vectorstores.utils import DistanceStrategy
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings

from .chunking import Chunk, chunk_document
from .config import Settings
from .document import Document

#: Bump when the chunker or the stored layout changes, so older indexes are rebuilt.
FORMAT_VERSION = 1
_FILES = ("index.faiss", "units.json")
_LOCK_TIMEOUT_S = 600


class IndexStoreError(RuntimeError):
    """The index cannot be built or read; the message says why in one line."""


@dataclass(frozen=True)
class Unit:
    """One searchable piece: a whole chunk, or one sentence of a chunk with several."""

    unit_id: int
    kind: str  # "chunk" or "sentence"
    chunk_id: int
    start: int
    end: int


@dataclass
class Index:
    document: Document
    chunks: list[Chunk]
    units: list[Unit]
    vectorstore: FAISS  # LangChain's FAISS store over ``units`` (cosine via inner product)
    vectors: np.ndarray  # (len(units), dim) float32, L2-normalised
    manifest: dict[str, Any]
    path: Path

    @property
    def embeddings(self) -> Embeddings:
        return self.vectorstore.embedding_function  # type: ignore[return-value]


def _log(message: str) -> None:
    print(f"sanad: {message}", file=sys.stderr, flush=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("faiss-cpu", "sentence-transformers", "langchain-community", "sanad"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def _expected(document: Document, settings: Settings, model: tuple[str, str]) -> dict[str, Any]:
    """The manifest fields that must match for an index on disk to be used."""
    return {
        "format": FORMAT_VERSION,
        "document_sha256": document.sha256,
        "model_id": model[0],
        "model_fingerprint": model[1],
        "chunk_chars": settings.chunk_chars,
    }


def index_dir(settings: Settings, document: Document, model_id: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[-48:]
    root = settings.index_dir or settings.cache_dir / "indexes"
    return root / f"{document.sha256[:16]}-{slug}"


def make_units(chunks: list[Chunk]) -> list[Unit]:
    """Chunks, and the sentences of multi-sentence chunks: a question often matches one
    sentence much better than the paragraph around it, especially across languages."""
    units: list[Unit] = []
    for c in chunks:
        units.append(Unit(len(units), "chunk", c.chunk_id, c.start, c.end))
        if len(c.sentences) > 1:
            for s, e in c.sentences:
                units.append(Unit(len(units), "sentence", c.chunk_id, s, e))
    return units


def open_index(
    settings: Settings,
    document: Document,
    embeddings: Embeddings,
    model: tuple[str, str],
    *,
    rebuild: bool = False,
) -> Index:
    """Load the index for ``document`` or build it; ``model`` is (model id, fingerprint)."""
    path = index_dir(settings, document, model[0])
    expected = _expected(document, settings, model)
    if not rebuild:
        loaded, why = _try_load(path, document, embeddings, expected)
        if loaded is not None:
            return loaded
        if why:
            _log(f"rebuilding the index ({why})")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(path) + ".lock", timeout=_LOCK_TIMEOUT_S):
            if not rebuild:
                # Another process may have built it while this one waited for the lock.
                loaded, _ = _try_load(path, document, embeddings, expected)
                if loaded is not None:
                    return loaded
            _build(path, document, settings, embeddings, expected)
    except Timeout:
        raise IndexStoreError(f"timed out waiting for another build of {path}") from None
    except OSError as e:
        raise IndexStoreError(f"cannot write the index in {path.parent}: {e.strerror}") from None
    loaded, why = _try_load(path, document, embeddings, expected)
    if loaded is None:
        raise IndexStoreError(f"the index just built in {path} does not verify: {why}")
    return loaded


def _build(
    path: Path,
    document: Document,
    settings: Settings,
    embeddings: Embeddings,
    expected: dict[str, Any],
) -> None:
    t0 = time.perf_counter()
    chunks = chunk_document(document.text, settings.chunk_chars)
    units = make_units(chunks)
    _log(f"indexing {document.name}: {len(chunks)} chunks, {len(units)} searchable units")
    texts = [document.text[u.start : u.end] for u in units]
    vectors = np.asarray(embeddings.embed_documents(texts), dtype="float32")
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)

    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    faiss.write_index(index, str(tmp / "index.faiss"))
    payload = {
        "chunks": [
            {
                "chunk_id": c.chunk_id,
                "start": c.start,
                "end": c.end,
                "paragraph": c.paragraph,
                "sentences": [list(s) for s in c.sentences],
            }
            for c in chunks
        ],
        "units": [u.__dict__ for u in units],
    }
    (tmp / "units.json").write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    manifest = {
        **expected,
        "document_name": document.name,
        "count": len(units),
        "dim": int(vectors.shape[1]),
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {name: _sha256(tmp / name) for name in _FILES},
    }
    # The manifest is written last: a folder without one is never mistaken for an index.
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    for name in (*_FILES, "manifest.json"):
        with (tmp / name).open("rb") as f:
            os.fsync(f.fileno())

    old = path.parent / f".{path.name}.old-{os.getpid()}"
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    _log(f"index ready in {time.perf_counter() - t0:.1f} s: {path}")


def _try_load(
    path: Path, document: Document, embeddings: Embeddings, expected: dict[str, Any]
) -> tuple[Index | None, str]:
    """The index at ``path`` if it is complete, intact and built from the same inputs;
    otherwise None and the reason ("" when there simply is none yet)."""
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        return None, ""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for key, value in expected.items():
            if manifest.get(key) != value:
                return None, f"it was built with a different {key.replace('_', ' ')}"
        for name in _FILES:
            if _sha256(path / name) != manifest["files"][name]:
                return None, f"{name} does not match its checksum"
        index = faiss.read_index(str(path / "index.faiss"))
        payload = json.loads((path / "units.json").read_text(encoding="utf-8"))
        chunks = [
            Chunk(
                c["chunk_id"],
                c["start"],
                c["end"],
                c["paragraph"],
                tuple(tuple(s) for s in c["sentences"]),
            )
            for c in payload["chunks"]
        ]
        units = [Unit(**u) for u in payload["units"]]
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        return None, f"it is unreadable ({type(e).__name__})"
    if index.ntotal != len(units) or any(u.end > len(document.text) for u in units):
        return None, "its parts disagree"

    docs = {
        str(u.unit_id): LCDocument(
            page_content=document.text[u.start : u.end],
            metadata={
                "unit_id": u.unit_id,
                "kind": u.kind,
                "chunk_id": u.chunk_id,
                "start": u.start,
                "end": u.end,
            },
        )
        for u in units
    }
    store = FAISS(
        embedding_function=embeddings,
        index=index,
        docstore=InMemoryDocstore(docs),
        index_to_docstore_id={u.unit_id: str(u.unit_id) for u in units},
        distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
    )
    vectors = index.reconstruct_n(0, index.ntotal)
    return Index(document, chunks, units, store, vectors, manifest, path), ""
