"""The FAISS index on disk: built once per (document, model, chunking), verified on every load.

LangChain's ``FAISS.save_local``/``load_local`` pickle the docstore, and unpickling a file that
someone could have replaced runs their code. So the vectors are stored as a NumPy ``.npy`` array
(``vectors.npy``) and the passages as JSON, and a manifest records what the index was built from
plus a SHA-256 of each file. Nothing here ever unpickles, and a stray ``index.pkl`` is never
opened. The FAISS index (exact inner product, ``IndexFlatIP``) is made from the vectors on every
load: a flat index is nothing but its vectors, and so FAISS's own file reader never sees a file
from disk.

Loading trusts nothing it can check: the manifest must name the same document, model and chunk
size; each file must match its checksum; the passages must be exactly those the chunker makes of
the document now (so an edited ``units.json`` is refused even with a rewritten manifest, and a
changed chunker rebuilds by itself); ``vectors.npy`` must hold one float32 vector per passage,
in C order (its header is read first, with NumPy's own reader, so a header claiming a giant shape
allocates nothing; then the array, with ``np.load(allow_pickle=False)``); and every vector must
be unit length. Anything that does not match is rebuilt, never used.

Builds write into a temporary folder beside the index and rename it into place under a file
lock, so a crash or a concurrent build leaves either the previous complete index or none, and
the next start builds again by itself. Temporary folders a killed build left behind are removed
by the next process that holds the lock.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import platform
import re
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

import faiss
import numpy as np
import numpy.typing as npt
from filelock import FileLock, Timeout
from langchain_community.docstore.in_memory import InMemoryDocstore
from langchain_community.vectorstores import FAISS
from langchain_community.vectorstores.utils import DistanceStrategy
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings

from .chunking import Chunk, chunk_document
from .config import Settings
from .document import Document

#: Bump when the stored layout changes, so older indexes are rebuilt. (Chunker changes need no
#: bump: stored passages are compared with the chunker's output on every load.)
FORMAT_VERSION = 2  # 1 kept the vectors in FAISS's own index.faiss
VECTORS_FILE, UNITS_FILE, MANIFEST_FILE = "vectors.npy", "units.json", "manifest.json"
_FILES = (VECTORS_FILE, UNITS_FILE)
_LOCK_TIMEOUT_S = 600
_MANIFEST_MAX_BYTES = 1 << 20  # a real one is under 2 KB; do not read a planted giant
_LEFTOVER = re.compile(r"\.(tmp|old)-\d+$")


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

    def unit_scores(self, qvec: npt.ArrayLike) -> np.ndarray:
        """The inner product of the query vector with every unit, in unit order, as FAISS
        computes it: cosine similarity when the query is unit length, as embeddings are."""
        index = self.vectorstore.index
        scores, ids = index.search(self._query(qvec), index.ntotal)
        out = np.empty(index.ntotal, dtype=np.float32)
        # FAISS answers best first; its ids are positions, and unit i was added i-th.
        out[ids[0]] = scores[0]
        return out

    def search_units(self, qvec: npt.ArrayLike, k: int) -> list[tuple[Unit, float]]:
        """The ``k`` units (fewer if there are fewer) with the highest inner product with the
        query vector, best first, from the FAISS index."""
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        index = self.vectorstore.index
        scores, ids = index.search(self._query(qvec), min(k, index.ntotal))
        return [(self.units[i], float(s)) for i, s in zip(ids[0], scores[0], strict=True)]

    def _query(self, qvec: npt.ArrayLike) -> np.ndarray:
        """``qvec`` as the (1, dim) C-ordered float32 array FAISS searches with."""
        q = np.ascontiguousarray(qvec, dtype=np.float32).reshape(1, -1)
        if q.shape[1] != self.vectorstore.index.d:
            raise ValueError(
                f"a query vector of {q.shape[1]} values for an index of "
                f"{self.vectorstore.index.d}-dimensional vectors"
            )
        return q


def _log(message: str) -> None:
    print(f"sanad: {message}", file=sys.stderr, flush=True)


def _open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, if it is a regular file. A FIFO would block the read (and
    the start) forever and a device such as /dev/zero never ends, so neither is read; nor is a
    symbolic link, which no index sanad writes contains."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OSError(f"{path.name} is a symbolic link") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with _open_regular(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    """What built the index, for people reading ``python -m index info`` after an upgrade."""
    out = {"python": platform.python_version()}
    for dist in (
        "sanad",
        "faiss-cpu",
        "numpy",
        "torch",
        "transformers",
        "sentence-transformers",
        "langchain-community",
    ):
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


def _payload(chunks: list[Chunk], units: list[Unit]) -> dict[str, Any]:
    """What ``units.json`` holds, in JSON's own types (lists, not tuples) so it compares equal
    to what ``json.loads`` returns."""
    return {
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
        "units": [asdict(u) for u in units],
    }


def open_index(
    settings: Settings,
    document: Document,
    embeddings: Embeddings,
    model: tuple[str, str],
    *,
    rebuild: bool = False,
) -> Index:
    """Load the index for ``document`` or build it; ``model`` is (model id, fingerprint).

    A missing index is built; a stale, damaged or tampered one is rebuilt with one line on
    stderr saying why. Problems with the folder itself raise ``IndexStoreError``."""
    path = index_dir(settings, document, model[0])
    expected = _expected(document, settings, model)
    loaded, why = None, ""
    if not rebuild:
        loaded, why = _try_load(path, document, embeddings, expected)
        if loaded is not None:
            _sweep_quietly(path)
            return loaded
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            if not rebuild:
                # Another process may have built it while this one waited for the lock, or was
                # replacing it while this one read it.
                loaded, why = _try_load(path, document, embeddings, expected)
                if loaded is not None:
                    return loaded
            _remove_leftovers(path)
            _build(path, document, settings, embeddings, expected, why)
            # Verified under the lock: no other build can be swapping the folder meanwhile.
            loaded, why = _try_load(path, document, embeddings, expected)
    except Timeout:
        raise IndexStoreError(
            f"timed out after {_LOCK_TIMEOUT_S} s waiting for another build of {path}"
        ) from None
    except OSError as e:
        reason = e.strerror or _first_line(e)
        raise IndexStoreError(f"cannot write the index in {path.parent}: {reason}") from None
    if loaded is None:
        raise IndexStoreError(f"the index just built in {path} does not verify: {why}")
    return loaded


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the build lock of ``path``, saying so when another process holds it first."""
    lock = FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        _log("waiting for another sanad process to finish building the index")
        lock.acquire(timeout=_LOCK_TIMEOUT_S)
    try:
        yield
    finally:
        lock.release()


def _leftovers(path: Path) -> list[Path]:
    """Temporary folders of earlier builds of ``path`` (a killed build leaves one behind)."""
    prefix = f".{path.name}."
    try:
        return [
            p
            for p in path.parent.iterdir()
            if p.name.startswith(prefix) and _LEFTOVER.fullmatch(p.name[len(prefix) - 1 :])
        ]
    except OSError:
        return []


def _remove_leftovers(path: Path) -> None:
    """Only call with the lock held: then no build is running, so every leftover is stale."""
    for p in _leftovers(path):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()


def _sweep_quietly(path: Path) -> None:
    """After a lock-free load: remove leftovers if any, but never wait or fail for it (a build
    in progress holds the lock, and a read-only folder cannot be cleaned)."""
    if not _leftovers(path):
        return
    lock = FileLock(str(path) + ".lock")
    with contextlib.suppress(Timeout, OSError):
        lock.acquire(timeout=0)
        try:
            _remove_leftovers(path)
        finally:
            lock.release()


def _build(
    path: Path,
    document: Document,
    settings: Settings,
    embeddings: Embeddings,
    expected: dict[str, Any],
    why: str,
) -> None:
    """Build into a temporary sibling and swap it in. Only call with the lock held."""
    t0 = time.perf_counter()
    chunks = chunk_document(document.text, settings.chunk_chars)
    units = make_units(chunks)
    if why:
        _log(f"rebuilding the index of {document.name}: {why}")
    else:
        _log(f"indexing {document.name}: {len(chunks)} chunks, {len(units)} searchable units")
    # The folder is made before the slow part, so a build killed while embedding leaves a
    # recognisable leftover that the next build removes.
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        _write(tmp, document, chunks, units, embeddings, expected)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # Ctrl-C or a failed write; kill -9 is swept later
        raise
    old = path.parent / f".{path.name}.old-{os.getpid()}"
    if path.exists() or path.is_symlink():
        os.replace(path, old)
    # A crash between these two renames leaves no index (and two leftovers): the next start
    # builds again. POSIX has no portable atomic swap of two folders.
    os.replace(tmp, path)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            old.unlink()
    _log(f"index ready in {time.perf_counter() - t0:.1f} s: {path}")


def _write(
    tmp: Path,
    document: Document,
    chunks: list[Chunk],
    units: list[Unit],
    embeddings: Embeddings,
    expected: dict[str, Any],
) -> None:
    texts = [document.text[u.start : u.end] for u in units]
    vectors = np.asarray(embeddings.embed_documents(texts), dtype="float32")
    if vectors.ndim != 2 or len(vectors) != len(units) or not np.isfinite(vectors).all():
        raise IndexStoreError(f"the embedding model returned unusable vectors {vectors.shape}")
    faiss.normalize_L2(vectors)  # inner product must be cosine whatever the model returns
    with (tmp / VECTORS_FILE).open("wb") as f:
        np.save(f, vectors, allow_pickle=False)
    (tmp / UNITS_FILE).write_text(
        json.dumps(_payload(chunks, units), ensure_ascii=False), encoding="utf-8"
    )
    manifest = {
        **expected,
        "document_name": document.name,
        "document_chars": len(document.text),
        "count": len(units),
        "dim": int(vectors.shape[1]),
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {name: _sha256(tmp / name) for name in _FILES},
    }
    # The manifest is written last: a folder without one is never mistaken for an index.
    (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    for name in (*_FILES, MANIFEST_FILE):
        with (tmp / name).open("rb") as f:
            os.fsync(f.fileno())


def _read_vectors(path: Path, count: int, dim: int) -> np.ndarray:
    """The vectors in ``vectors.npy`` if it holds exactly ``count`` float32 vectors of ``dim``
    values in C order, and nothing after them; ValueError saying what it holds otherwise."""
    with _open_regular(path) as f:
        # The header first: np.load would allocate whatever shape a header claims.
        try:
            version = np.lib.format.read_magic(f)
        except ValueError:  # a pickle, an .npz archive, anything else
            raise ValueError("it is not a .npy file") from None
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"it is in .npy format {version}, not 1.0 or 2.0")
        if shape != (count, dim) or dtype != np.float32 or fortran_order:
            order = "Fortran" if fortran_order else "C"
            raise ValueError(
                f"it holds a {shape} {dtype} array in {order} order, not "
                f"({count}, {dim}) float32 in C order"
            )
        f.seek(0)
        vectors = np.load(f, allow_pickle=False)
        if f.read(1):
            raise ValueError("it has bytes after its array")
    return vectors


def _first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [""])[0]


def _read_manifest(path: Path) -> Any:
    with _open_regular(path) as f:
        raw = f.read(_MANIFEST_MAX_BYTES + 1)
    if len(raw) > _MANIFEST_MAX_BYTES:
        raise ValueError("manifest.json is too large")
    return json.loads(raw.decode("utf-8"))


def _try_load(
    path: Path, document: Document, embeddings: Embeddings, expected: dict[str, Any]
) -> tuple[Index | None, str]:
    """The index at ``path`` if it is complete, intact and built from the same inputs;
    otherwise None and the reason ("" when there simply is none yet)."""
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        return None, ""
    try:
        manifest = _read_manifest(manifest_path)
        if not isinstance(manifest, dict):
            return None, "its manifest is not a JSON object"
        for key, value in expected.items():
            if manifest.get(key) != value:
                return None, f"it was built with a different {key.replace('_', ' ')}"
        files = manifest.get("files")
        if not isinstance(files, dict) or set(files) != set(_FILES):
            return None, "its manifest does not list its files"
        for name in _FILES:
            if _sha256(path / name) != files[name]:
                return None, f"{name} does not match its checksum"
        dim, count = manifest.get("dim"), manifest.get("count")
        if not (isinstance(dim, int) and isinstance(count, int) and 0 < dim <= 65536):
            return None, "its manifest does not give the vectors' shape"
        with _open_regular(path / UNITS_FILE) as f:
            stored = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        return None, f"it is unreadable ({type(e).__name__}: {_first_line(e)})"
    # The passages follow from the document and the chunk size alone, so they are recomputed
    # rather than believed: edited offsets cannot point answers at other text, or past its end.
    chunks = chunk_document(document.text, expected["chunk_chars"])
    units = make_units(chunks)
    if stored != _payload(chunks, units):
        return None, f"{UNITS_FILE} does not match the document's passages"
    # Checked before the vectors are read, which bounds what reading them can allocate.
    if count != len(units):
        return None, f"its manifest counts {count} vectors for {len(units)} passages"
    try:
        vectors = _read_vectors(path / VECTORS_FILE, count, dim)
    except (OSError, ValueError) as e:
        return None, f"{VECTORS_FILE} is unusable: {_first_line(e)}"
    norms = np.linalg.norm(vectors, axis=1)
    if not (np.isfinite(vectors).all() and np.allclose(norms, 1.0, atol=1e-3)):
        return None, f"{VECTORS_FILE} holds vectors that are not unit length"

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
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
    return Index(document, chunks, units, store, vectors, manifest, path), ""
