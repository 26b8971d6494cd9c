"""The index on disk under faults and attacks, with the real model and real FAISS.

What must hold: a damaged, edited or stale index is never used (it is rebuilt, with one line on
stderr saying why); nothing in or near the index folder is ever unpickled; concurrent and killed
builds leave one good index or none, and the next start recovers by itself; a folder sanad
cannot write to is one clear error.

Most fault tests use a three-paragraph document, whose index builds in about a second; the ones
about answers, concurrency and kills use the article (a few seconds per build).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

from index import (
    Index,
    IndexStoreError,
    Settings,
    chunk_document,
    get_embeddings,
    load_document,
    load_index,
    model_fingerprint,
    model_id,
    open_index,
)
from index import store as store_module
from qa import Assistant

ROOT = Path(__file__).resolve().parents[1]
SMALL = "\n\n".join(
    [
        "افتتحت مصر يوم الجمعة توسعة مجمع بنبان للطاقة الشمسية في محافظة أسوان. "
        "وتضيف التوسعة قدرة 200 ميغاواط.",
        "بلغت تكلفة المشروع 150 مليون دولار. وجاء التمويل من بنك التنمية الأفريقي.",
        "قال وزير الكهرباء إن المحطة ستوفر الكهرباء لنحو 130 ألف منزل.",
    ]
)
KILLED_QUESTION = "How many people were killed in the Moscow concert hall attack?"
LEFTOVER = re.compile(r"\..+\.(tmp|old)-\d+$")


# --- helpers --------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _env(index_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a child sanad: this one, minus any SANAD_* a developer has set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANAD_")}
    # Several of these run at once on a small machine: one torch thread each stops them from
    # spinning against each other.
    return {**env, "SANAD_INDEX_DIR": str(index_dir), "OMP_NUM_THREADS": "1", **extra}


def _index_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "index", *args]


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if LEFTOVER.fullmatch(p.name))


def _reasons(err: str) -> list[str]:
    """stderr lines saying why an index was not used."""
    return [line for line in err.splitlines() if "rebuilding the index" in line]


@pytest.fixture(scope="module")
def model(settings: Settings) -> tuple[str, str]:
    return model_id(settings), model_fingerprint(settings)


@pytest.fixture
def small(tmp_path: Path) -> Settings:
    """Settings for the small document with an index folder of the test's own."""
    doc = tmp_path / "small.txt"
    doc.write_text(SMALL, encoding="utf-8")
    (tmp_path / "indexes").mkdir()
    return Settings.from_env(env={}, index_dir=tmp_path / "indexes", document=doc)


def _copy_article_index(assistant: Assistant, root: Path) -> Path:
    """The session's built article index, copied into ``root``: a valid index without a build."""
    root.mkdir(parents=True, exist_ok=True)
    dest = root / assistant.index.path.name
    shutil.copytree(assistant.index.path, dest)
    return dest


def _fix_manifest(folder: Path) -> None:
    """Rewrite the manifest's checksums to match the files: what an attacker who can write the
    folder would do."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"] = {name: _sha256(folder / name) for name in manifest["files"]}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def _assert_is_the_right_index(idx: Index, settings: Settings) -> None:
    """``idx`` is exactly what ``settings`` should give: its document, chunks and intact files."""
    doc = load_document(settings)
    assert idx.document.text == doc.text
    assert idx.chunks == chunk_document(doc.text, settings.chunk_chars)
    assert idx.manifest["document_sha256"] == doc.sha256
    assert idx.manifest["chunk_chars"] == settings.chunk_chars
    for name, digest in idx.manifest["files"].items():
        assert _sha256(idx.path / name) == digest
    assert idx.units == store_module.make_units(idx.chunks)
    for u in idx.units:
        assert 0 <= u.start < u.end <= len(doc.text)
    assert len(idx.vectors) == len(idx.units)
    assert np.allclose(np.linalg.norm(idx.vectors, axis=1), 1.0, atol=1e-3)


@contextmanager
def _no_unpickling(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any unpickling while inside fails the test loudly."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("sanad tried to unpickle")

    with monkeypatch.context() as m:
        for name in ("load", "loads", "Unpickler"):
            m.setattr(pickle, name, refuse)
        yield


# --- the manifest -----------------------------------------------------------------------------


def test_manifest_records_what_the_index_was_built_from(
    assistant: Assistant, settings: Settings, model: tuple[str, str]
) -> None:
    m = assistant.index.manifest
    assert m["document_sha256"] == hashlib.sha256(assistant.document.text.encode()).hexdigest()
    assert (m["model_id"], m["model_fingerprint"]) == model
    assert m["chunk_chars"] == settings.chunk_chars
    assert m["format"] == store_module.FORMAT_VERSION
    assert m["count"] == len(assistant.index.units) and m["dim"] == 384
    for lib in ("faiss-cpu", "numpy", "torch", "sentence-transformers", "python"):
        assert m["versions"][lib], lib
    assert set(m["files"]) == {"vectors.npy", "units.json"}
    for name, digest in m["files"].items():
        assert _sha256(assistant.index.path / name) == digest
    on_disk = json.loads((assistant.index.path / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == m


def test_index_info_prints_the_manifest(assistant: Assistant, index_dir: Path) -> None:
    done = subprocess.run(
        _index_cmd("info"), capture_output=True, text=True, env=_env(index_dir), timeout=300
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    m = assistant.index.manifest
    assert info["path"] == str(assistant.index.path)
    for key in ("document_sha256", "model_id", "model_fingerprint", "chunk_chars", "versions"):
        assert info[key] == m[key], key
    assert info["files"] == m["files"]  # per-file SHA-256s, checkable with sha256sum
    assert _reasons(done.stderr) == []  # it used the index, it did not rebuild it


def test_the_index_folder_holds_no_pickle(assistant: Assistant) -> None:
    folder = assistant.index.path
    assert sorted(p.name for p in folder.iterdir()) == [
        "manifest.json",
        "units.json",
        "vectors.npy",
    ]
    for p in folder.iterdir():
        assert not p.read_bytes().startswith(b"\x80")  # pickle protocol 2+ opens with PROTO
    # A plain float32 array, exactly the vectors the FAISS index was made from.
    vectors = np.load(folder / "vectors.npy", allow_pickle=False)
    assert vectors.dtype == np.float32 and vectors.flags.c_contiguous
    assert np.array_equal(vectors, assistant.index.vectors)
    index = assistant.index.vectorstore.index
    assert np.array_equal(index.reconstruct_n(0, index.ntotal), vectors)
    json.loads((folder / "units.json").read_text(encoding="utf-8"))
    json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def test_no_sanad_module_can_unpickle() -> None:
    # A static guard beside the runtime ones: pickle, or LangChain's pickle-based loader, in
    # any of sanad's packages would reopen the hole this design closes.
    risky = re.compile(
        r"^\s*(import pickle|from pickle|import dill|import joblib)|load_local\(|"
        r"allow_dangerous_deserialization|torch\.load\(",
        re.MULTILINE,
    )
    hits = [
        f"{py.relative_to(ROOT)}: {m.group(0).strip()}"
        for package in ("index", "qa", "ui")
        for py in (ROOT / package).rglob("*.py")
        for m in risky.finditer(py.read_text(encoding="utf-8"))
    ]
    assert hits == []


# --- searching through FAISS -------------------------------------------------------------------


@pytest.mark.parametrize("question", [KILLED_QUESTION, "من نفذ هجوم موسكو؟"])
def test_unit_scores_are_faiss_scores_in_unit_order(assistant: Assistant, question: str) -> None:
    idx = assistant.index
    qvec = np.asarray(idx.embeddings.embed_query(question), dtype="float32")
    scores = idx.unit_scores(qvec)
    assert scores.shape == (len(idx.units),) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, idx.vectors @ qvec, atol=1e-5)
    # A list or float64 vector is the same query.
    np.testing.assert_allclose(idx.unit_scores(qvec.astype("float64").tolist()), scores)


def test_search_units_gives_the_best_units_first(assistant: Assistant) -> None:
    idx = assistant.index
    qvec = np.asarray(idx.embeddings.embed_query(KILLED_QUESTION), dtype="float32")
    by_numpy = idx.vectors @ qvec
    hits = idx.search_units(qvec, 5)
    assert [u for u, _ in hits] == [idx.units[i] for i in np.argsort(-by_numpy)[:5]]
    np.testing.assert_allclose([s for _, s in hits], np.sort(by_numpy)[::-1][:5], atol=1e-5)
    assert "140" in idx.document.text[hits[0][0].start : hits[0][0].end]
    everything = idx.search_units(qvec, 10_000)  # more than there are: all of them, best first
    assert sorted(u.unit_id for u, _ in everything) == [u.unit_id for u in idx.units]
    with pytest.raises(ValueError, match="k must be at least 1"):
        idx.search_units(qvec, 0)
    with pytest.raises(ValueError, match="query vector of 3 values"):
        idx.unit_scores(np.ones(3))


# --- damaged and tampered files ----------------------------------------------------------------


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for at in (len(data) // 3, len(data) // 2, len(data) - 5):
        data[at] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _flip], ids=["truncated", "flipped bytes"])
def test_a_damaged_vectors_npy_is_rebuilt_and_answers_stay_right(
    assistant: Assistant,
    tmp_path: Path,
    damage: Callable[[Path], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = _copy_article_index(assistant, tmp_path)
    damage(folder / "vectors.npy")
    settings = Settings.from_env(env={}, index_dir=tmp_path)
    bot = Assistant(settings)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert _reasons(err) == [
        "sanad: rebuilding the index of article.txt (packaged): vectors.npy does not match its "
        "checksum"
    ]
    _assert_is_the_right_index(bot.index, settings)
    # The rebuilt vectors are the model's, not the damaged file's.
    assert np.allclose(bot.index.vectors, assistant.index.vectors, atol=1e-3)
    a = bot.ask(KILLED_QUESTION)
    assert not a.abstained and "140" in a.answer
    assert a.answer == assistant.ask(KILLED_QUESTION).answer


@pytest.mark.parametrize("name", ["vectors.npy", "units.json", "manifest.json"])
@pytest.mark.parametrize("kind", ["fifo", "symlink to /dev/zero"])
def test_an_index_file_that_is_not_a_regular_file_is_never_read(
    small: Settings, name: str, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO would block the start forever, /dev/zero would be read forever: both are
    reasons to rebuild, found without reading them."""
    path = load_index(small).path / name
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    capsys.readouterr()
    loaded: list[Index] = []
    thread = threading.Thread(target=lambda: loaded.append(load_index(small)), daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), f"loading an index with {name} as a {kind} hung"
    _assert_is_the_right_index(loaded[0], small)
    if name != "manifest.json":  # an index without a regular manifest is no index: no reason
        why = "is not a regular file" if kind == "fifo" else "is a symbolic link"
        assert f"{name} {why}" in " ".join(_reasons(capsys.readouterr().err))


def test_an_edited_units_json_is_detected(
    small: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    idx = load_index(small)
    units = idx.path / "units.json"
    payload = json.loads(units.read_text(encoding="utf-8"))
    payload["units"][0]["end"] = len(SMALL)  # widen a passage to the whole document
    units.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    capsys.readouterr()
    again = load_index(small)
    err = capsys.readouterr().err
    assert _reasons(err) == [
        "sanad: rebuilding the index of small.txt: units.json does not match its checksum"
    ]
    _assert_is_the_right_index(again, small)


def _swap_two_units(folder: Path) -> None:
    """Consistent-looking: valid offsets, but unit 0 now shows the text of another sentence."""
    units = folder / "units.json"
    payload = json.loads(units.read_text(encoding="utf-8"))
    a, b = payload["units"][0], payload["units"][-1]
    (a["start"], a["end"]), (b["start"], b["end"]) = (b["start"], b["end"]), (a["start"], a["end"])
    units.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")


def _offsets_past_the_end(folder: Path) -> None:
    units = folder / "units.json"
    payload = json.loads(units.read_text(encoding="utf-8"))
    payload["units"][1]["start"], payload["units"][1]["end"] = -5, 10**9
    payload["chunks"][0]["chunk_id"] = 99
    units.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")


def _wrong_types(folder: Path) -> None:
    (folder / "units.json").write_text('{"chunks": "rm -rf /", "units": [[1, 2]]}', "utf-8")


def _stored_vectors(folder: Path) -> np.ndarray:
    return np.load(folder / "vectors.npy", allow_pickle=False)


def _save_vectors(folder: Path, vectors: np.ndarray) -> None:
    with (folder / "vectors.npy").open("wb") as f:
        np.save(f, vectors)


def _vectors_swapped_for_noise(folder: Path) -> None:
    # A well-formed array of the right shape, holding vectors that are not unit length.
    shape = _stored_vectors(folder).shape
    noise = np.random.default_rng(0).normal(size=shape).astype("float32")
    _save_vectors(folder, noise * 3)


def _vectors_as_float64(folder: Path) -> None:
    _save_vectors(folder, _stored_vectors(folder).astype("float64"))


def _vectors_in_fortran_order(folder: Path) -> None:
    _save_vectors(folder, np.asfortranarray(_stored_vectors(folder)))


def _one_vector_short(folder: Path) -> None:
    _save_vectors(folder, _stored_vectors(folder)[:-1])


def _header_claims_a_giant_shape(folder: Path) -> None:
    # Read as it claims, this would ask for 1.5 TB.
    data = _stored_vectors(folder)
    with (folder / "vectors.npy").open("wb") as f:
        header = {"descr": "<f4", "fortran_order": False, "shape": (10**12, data.shape[1])}
        np.lib.format.write_array_header_1_0(f, header)
        f.write(data.tobytes())


def _manifest_count_edited(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["count"] = 10**12
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def _truncated_vectors(folder: Path) -> None:
    _truncate(folder / "vectors.npy")


def _bytes_after_the_array(folder: Path) -> None:
    with (folder / "vectors.npy").open("ab") as f:
        f.write(b"\0" * 64)


def _an_npz_archive(folder: Path) -> None:
    vectors = _stored_vectors(folder)
    with (folder / "vectors.npy").open("wb") as f:
        np.savez(f, vectors=vectors)


def _an_old_format_index(folder: Path) -> None:
    # What FORMAT_VERSION 1 wrote: the vectors in FAISS's own file instead of vectors.npy.
    flat = faiss.IndexFlatIP(_stored_vectors(folder).shape[1])
    flat.add(_stored_vectors(folder))
    faiss.write_index(flat, str(folder / "index.faiss"))
    (folder / "vectors.npy").unlink()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["format"] = 1
    manifest["files"] = {"index.faiss": "", "units.json": ""}  # filled in by _fix_manifest
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_swap_two_units, "units.json does not match the document's passages"),
        (_offsets_past_the_end, "units.json does not match the document's passages"),
        (_wrong_types, "units.json does not match the document's passages"),
        (_vectors_swapped_for_noise, "vectors.npy holds vectors that are not unit length"),
        (_vectors_as_float64, "vectors.npy is unusable: it holds a ("),
        (_vectors_in_fortran_order, "float32 array in Fortran order, not ("),
        (_one_vector_short, "vectors.npy is unusable: it holds a ("),
        (_header_claims_a_giant_shape, "it holds a (1000000000000, 384) float32 array"),
        (_manifest_count_edited, "its manifest counts 1000000000000 vectors for"),
        (_truncated_vectors, "vectors.npy is unusable: "),
        (_bytes_after_the_array, "vectors.npy is unusable: it has bytes after its array"),
        (_an_npz_archive, "vectors.npy is unusable: it is not a .npy file"),
        (_an_old_format_index, "it was built with a different format"),
    ],
    ids=[
        "swapped units",
        "offsets past the end",
        "wrong types",
        "noise vectors",
        "float64",
        "fortran order",
        "one short",
        "giant header",
        "count edited",
        "truncated",
        "trailing bytes",
        "npz",
        "old format",
    ],
)
def test_tampering_with_a_matching_manifest_is_refused_without_unpickling(
    small: Settings,
    tamper: Callable[[Path], None],
    reason: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = load_index(small).path
    tamper(folder)
    _fix_manifest(folder)
    capsys.readouterr()
    with _no_unpickling(monkeypatch):
        idx = load_index(small)
    err = capsys.readouterr().err
    (line,) = _reasons(err)
    assert reason in line, err
    assert "Traceback" not in err
    _assert_is_the_right_index(idx, small)
    assert sorted(p.name for p in idx.path.iterdir()) == [
        "manifest.json",
        "units.json",
        "vectors.npy",
    ]


class _Exploit:
    """Unpickling one creates ``marker``: proof that something unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("kind", ["pickle", "object array"])
def test_a_pickle_planted_as_vectors_npy_is_refused_without_unpickling(
    small: Settings,
    tmp_path: Path,
    kind: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    marker = tmp_path / "pwned"
    folder = load_index(small).path
    shape = _stored_vectors(folder).shape
    planted = np.full(shape, None, dtype=object)
    planted[0, 0] = _Exploit(marker)
    if kind == "pickle":
        (folder / "vectors.npy").write_bytes(pickle.dumps(planted))
        reason = "vectors.npy is unusable: it is not a .npy file"
    else:  # a genuine .npy file, whose object array numpy stores as a pickle
        with (folder / "vectors.npy").open("wb") as f:
            np.save(f, planted, allow_pickle=True)
        reason = f"vectors.npy is unusable: it holds a {shape} object array"
    _fix_manifest(folder)
    capsys.readouterr()
    with _no_unpickling(monkeypatch):
        idx = load_index(small)
    (line,) = _reasons(capsys.readouterr().err)
    assert reason in line
    assert not marker.exists()
    _assert_is_the_right_index(idx, small)
    # The payload was live: loading it as numpy allows, with allow_pickle=True, would run it.
    planted_again = tmp_path / "planted.npy"
    np.save(planted_again, planted, allow_pickle=True)
    np.load(planted_again, allow_pickle=True)
    assert marker.exists()


def test_a_planted_langchain_pickle_is_never_loaded(
    assistant: Assistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(marker))
    folder = _copy_article_index(assistant, tmp_path / "indexes")
    # Where LangChain's FAISS.save_local would put its docstore pickle, beside a FAISS file.
    flat = faiss.IndexFlatIP(assistant.index.vectors.shape[1])
    flat.add(assistant.index.vectors)
    for where in (folder, tmp_path / "indexes"):
        (where / "index.pkl").write_bytes(payload)
        faiss.write_index(flat, str(where / "index.faiss"))

    settings = Settings.from_env(env={}, index_dir=tmp_path / "indexes")
    with _no_unpickling(monkeypatch):
        bot = Assistant(settings)
        a = bot.ask(KILLED_QUESTION)
    assert "140" in a.answer
    assert bot.index.path == folder  # the copied index was used, pickle and all beside it
    assert not marker.exists()
    # The payload was live: unpickling it is exactly what would have run it.
    pickle.loads(payload)
    assert marker.exists()


# --- stale indexes ------------------------------------------------------------------------------


def test_an_edited_document_never_gets_the_stale_index(small: Settings) -> None:
    first = load_index(small)
    assert small.document is not None
    small.document.write_text(SMALL.replace("150 مليون", "175 مليون"), encoding="utf-8")
    second = load_index(small)
    assert second.path != first.path
    assert "175 مليون" in second.document.text
    _assert_is_the_right_index(second, small)
    bot = Assistant(small)
    assert "175 مليون دولار" in bot.ask("كم بلغت تكلفة المشروع؟").answer


def test_another_chunk_size_rebuilds(small: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    wide = load_index(small)
    narrow_settings = small.replace(chunk_chars=100)
    narrow = load_index(narrow_settings)
    assert narrow.path == wide.path  # same folder, rebuilt in place
    assert len(narrow.chunks) > len(wide.chunks)
    _assert_is_the_right_index(narrow, narrow_settings)
    back = load_index(small)
    _assert_is_the_right_index(back, small)
    reasons = _reasons(capsys.readouterr().err)
    assert (
        reasons
        == ["sanad: rebuilding the index of small.txt: it was built with a different chunk chars"]
        * 2
    )


def test_another_model_never_gets_the_stale_index(
    small: Settings, model: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    embeddings = get_embeddings(small)
    document = load_document(small)
    first = open_index(small, document, embeddings, model)
    # Same name, other weights (a model folder updated in place): rebuilt, same folder.
    changed = open_index(small, document, embeddings, (model[0], "0" * 16))
    assert changed.path == first.path
    assert changed.manifest["model_fingerprint"] == "0" * 16
    # Another model: its own folder, so two models' indexes never overwrite each other.
    other = open_index(small, document, embeddings, ("/models/other-e5", model[1]))
    assert other.path != first.path and other.manifest["model_id"] == "/models/other-e5"
    assert _reasons(capsys.readouterr().err) == [
        "sanad: rebuilding the index of small.txt: it was built with a different model fingerprint"
    ]


# --- concurrency and crashes ------------------------------------------------------------------


def test_concurrent_builds_end_with_one_good_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two processes force rebuilds of the article into one folder at once, while this one keeps
    # loading it without the lock (and builds it itself if it finds none): every load must give
    # the right index, and racing a swap must never make a reader rebuild.
    root = tmp_path / "indexes"
    root.mkdir()
    logs = [tmp_path / f"build-{n}.log" for n in range(2)]
    procs = []
    for log in logs:
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    _index_cmd("build", "--rebuild"), env=_env(root), stdout=out, stderr=out
                )
            )
    settings = Settings.from_env(env={}, index_dir=root)
    loads = 0
    try:
        while any(p.poll() is None for p in procs):
            _assert_is_the_right_index(load_index(settings), settings)
            loads += 1
            time.sleep(0.25)  # often enough to meet a swap, not to starve the builders
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=60)
    for p, log in zip(procs, logs, strict=True):
        text = log.read_text(encoding="utf-8", errors="replace")
        assert p.returncode == 0, text
        assert "Traceback" not in text
        assert "index ready" in text
    assert loads > 0
    assert _reasons(capsys.readouterr().err) == []
    idx = load_index(settings)
    assert capsys.readouterr().err == ""  # loaded as it is: nothing to rebuild or clean
    _assert_is_the_right_index(idx, settings)
    assert sorted(p.name for p in root.iterdir()) == [idx.path.name, idx.path.name + ".lock"]


def test_a_build_killed_while_embedding_leaves_the_old_index_or_none(
    assistant: Assistant, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_old, empty = tmp_path / "with-old", tmp_path / "empty"
    folder = _copy_article_index(assistant, with_old)
    proc = subprocess.Popen(
        _index_cmd("build", "--rebuild"),
        env=_env(with_old),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # The build makes its temporary folder just before embedding, which then takes seconds:
    # SIGKILL it as soon as the folder appears.
    deadline = time.monotonic() + 300
    try:
        while not _leftovers(with_old):
            assert proc.poll() is None, "the build ended before it could be killed"
            assert time.monotonic() < deadline, "the build never reached the embedding step"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    (leftover,) = _leftovers(with_old)
    # A first build killed the same way leaves just this: the lock file and the dead build's
    # folder, no index.
    empty.mkdir()
    shutil.copytree(with_old / leftover, empty / leftover)
    shutil.copy(with_old / f"{folder.name}.lock", empty)

    # Killed with an index already there: that index is intact and used as it is.
    assert (folder / "manifest.json").exists()
    settings = Settings.from_env(env={}, index_dir=with_old)
    capsys.readouterr()
    bot = Assistant(settings)
    assert _reasons(capsys.readouterr().err) == []
    assert bot.index.path == folder
    _assert_is_the_right_index(bot.index, settings)
    assert "140" in bot.ask(KILLED_QUESTION).answer
    assert _leftovers(with_old) == []  # the next start removed the dead build's folder

    # Killed during the first build: no index; the next start builds one and cleans up.
    settings = Settings.from_env(env={}, index_dir=empty)
    bot = Assistant(settings)
    _assert_is_the_right_index(bot.index, settings)
    assert "140" in bot.ask(KILLED_QUESTION).answer
    assert _leftovers(empty) == []


def test_leftovers_of_a_crash_between_the_renames_are_cleaned_up(small: Settings) -> None:
    # A crash after moving the old index aside and before moving the new one in: no index, an
    # .old- folder and a complete-looking .tmp- folder, from a process that no longer exists.
    idx = load_index(small)
    root = idx.path.parent
    old = root / f".{idx.path.name}.old-999999"
    tmp = root / f".{idx.path.name}.tmp-999999"
    shutil.copytree(idx.path, tmp)
    os.replace(idx.path, old)
    (root / f".{idx.path.name}.tmp-1").write_text("a stray file, not a folder")
    unrelated = root / ".someone-elses.tmp-5"
    unrelated.mkdir()
    again = load_index(small)
    _assert_is_the_right_index(again, small)
    assert _leftovers(root) == [unrelated.name]  # only this index's leftovers are its to remove


# --- folders sanad cannot write -----------------------------------------------------------------


@contextmanager
def _as_nobody() -> Iterator[None]:
    """Run the body without root's power to write anywhere (tests run as root in CI images)."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


def test_an_index_dir_under_a_file_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    settings = Settings.from_env(env={}, index_dir=blocker / "indexes")
    with pytest.raises(IndexStoreError) as e:
        load_index(settings)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"cannot write the index in {blocker / 'indexes'}")


@pytest.fixture
def unwritable_root() -> Iterator[Path]:
    """A folder outside pytest's private (0700) tmp tree, so that "nobody" can reach it; the
    test makes it read-only once it has put in what it needs."""
    root = Path(tempfile.mkdtemp(prefix="sanad-ro-"))
    yield root
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755)
    shutil.rmtree(root)


def _make_read_only(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)


@pytest.mark.parametrize("state", ["empty", "damaged"])
def test_an_unwritable_index_dir_that_needs_a_build_is_one_clear_error(
    assistant: Assistant, model: tuple[str, str], unwritable_root: Path, state: str
) -> None:
    if state == "damaged":
        _truncate(_copy_article_index(assistant, unwritable_root) / "vectors.npy")
    _make_read_only(unwritable_root)
    settings = assistant.settings.replace(index_dir=unwritable_root)
    with _as_nobody(), pytest.raises(IndexStoreError) as e:
        open_index(settings, assistant.document, assistant.index.embeddings, model)
    assert str(e.value) == f"cannot write the index in {unwritable_root}: Permission denied"


def test_a_valid_index_in_an_unwritable_dir_is_used(
    assistant: Assistant, model: tuple[str, str], unwritable_root: Path
) -> None:
    # Reading needs no write access: a shared, read-only index works, leftovers and all.
    folder = _copy_article_index(assistant, unwritable_root)
    (unwritable_root / f".{folder.name}.tmp-999999").mkdir()
    _make_read_only(unwritable_root)
    settings = assistant.settings.replace(index_dir=unwritable_root)
    with _as_nobody():
        idx = open_index(settings, assistant.document, assistant.index.embeddings, model)
    assert idx.path == folder
    assert idx.manifest == assistant.index.manifest
