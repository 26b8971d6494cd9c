"""The HTTP API and the Gradio ``ask`` endpoint, against a real server and the real Assistant."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from conftest_ui import running
from gradio_client import Client
from gradio_client.exceptions import AuthenticationError

from qa import Answer, Assistant
from ui import create_app
from ui.policy import MAX_BODY_BYTES, RateLimiter

# From the dev set qa is calibrated on: the article answers them.
ARABIC = "كم عدد الأشخاص الذين قتلوا في هجوم قاعة الحفلات في موسكو؟"
ENGLISH = "How many people were killed in the Moscow concert hall attack?"


@pytest.fixture(scope="module")
def server(assistant: Assistant) -> Iterator[str]:
    with running(create_app(assistant)) as url:
        yield url


def ask(url: str, body: Any, **kwargs: Any) -> requests.Response:
    return requests.post(f"{url}/api/ask", json=body, timeout=60, **kwargs)


def check_answer(d: dict[str, Any], text: str) -> None:
    """``d`` is ``Answer.to_dict()``: every field, sources that are the article's own text, and
    citations that point at sources."""
    assert set(d) == {f.name for f in dataclasses.fields(Answer)}
    assert d["sources"]
    for s in d["sources"]:
        assert text[s["start"] : s["end"]] == s["text"]
        for start, end in s["highlights"]:
            assert s["start"] <= start < end <= s["end"]
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", d["answer"])]
    assert all(1 <= n <= len(d["sources"]) for n in cited)


def test_ask_arabic(server: str, assistant: Assistant) -> None:
    r = ask(server, {"question": ARABIC})
    assert r.status_code == 200, r.text
    d = r.json()
    check_answer(d, assistant.document.text)
    assert d["language"] == "ar"
    assert not d["abstained"]
    assert "140" in d["answer"]


def test_ask_english_with_history_and_top_k(server: str, assistant: Assistant) -> None:
    history = [
        {"role": "user", "content": ARABIC},
        {"role": "assistant", "content": "بحسب المقال: «مقتل 140 شخصا» [1]"},
    ]
    r = ask(server, {"question": ENGLISH, "history": history, "top_k": 2})
    assert r.status_code == 200, r.text
    d = r.json()
    check_answer(d, assistant.document.text)
    assert d["language"] == "en"
    assert d["question"] == ENGLISH
    assert not d["abstained"]


def test_history_as_strings(server: str) -> None:
    # Plain strings are earlier questions: the follow-up's "her" is searched with the one before.
    earlier = "What did Avril Haines say about the conflict in Gaza?"
    follow_up = "What is her job?"
    r = ask(server, {"question": follow_up, "history": [earlier]})
    assert r.status_code == 200, r.text
    assert r.json()["language"] == "en"
    assert earlier in r.json()["query"] and follow_up in r.json()["query"]
    alone = ask(server, {"question": follow_up})
    assert alone.status_code == 200, alone.text
    assert alone.json()["query"] == follow_up


def test_health(server: str, assistant: Assistant) -> None:
    r = requests.get(f"{server}/api/health", timeout=10)
    assert r.status_code == 200
    d = r.json()
    assert d["status"] == "ok"
    assert d["document"] == assistant.document.name
    assert d["chunks"] > 0
    assert d["lexicon"] == "/usr/share/dictd/freedict-eng-ara"
    assert d["question_encoder"] == "onnxruntime"


def test_openapi_describes_the_api(server: str) -> None:
    spec = requests.get(f"{server}/openapi.json", timeout=10).json()
    post = spec["paths"]["/api/ask"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "AskRequest"
    )
    assert {"200", "400", "401", "413", "422", "429", "502"} <= set(post["responses"])
    assert "question" in spec["components"]["schemas"]["AskRequest"]["properties"]
    assert requests.get(f"{server}/docs", timeout=10).status_code == 200


# Not JSON, or not JSON Python can hold: each was a 400, or a 500 with a traceback.
NOT_JSON = [
    b'{"question": ',
    b"not json",
    b'{"question": NaN}',
    b'{"question": "x", "top_k": -Infinity}',
    b'{"question": "x", "top_k": 1e400}',
    b'{"question": "x", "top_k": ' + b"9" * 5000 + b"}",
    b'{"question": "\xff\xfe"}',
    b'{"question": "x", "history": ' + b"[" * 40 + b"]" * 40 + b"}",
    b"[" * 50_000,
]
WRONG_SHAPE = [
    b"[]",
    b'{"history": []}',
    b'{"question": 5}',
    b'{"question": "x", "top_k": "3"}',
    b'{"question": "x", "top_k": 0}',
    b'{"question": "x", "history": "x"}',
    b'{"question": "x", "history": [{"role": "bot", "content": "x"}]}',
    b'{"question": "x", "extra": 1}',
]


def _body_id(data: bytes) -> str:
    return data[:40].decode("utf-8", "replace")


def _post_json(url: str, data: bytes) -> requests.Response:
    return requests.post(url, data=data, headers={"Content-Type": "application/json"}, timeout=10)


@pytest.mark.parametrize("data", NOT_JSON + WRONG_SHAPE, ids=_body_id)
def test_malformed_body_is_422_json(server: str, data: bytes) -> None:
    r = _post_json(f"{server}/api/ask", data)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["detail"]


@pytest.mark.parametrize("data", NOT_JSON, ids=_body_id)
def test_gradio_routes_refuse_what_is_not_json_alike(server: str, data: bytes) -> None:
    r = _post_json(f"{server}/gradio_api/call/ask", data)
    assert r.status_code == 422 and r.json()["detail"]


@pytest.mark.parametrize("question", ["", "   \n ", "؟؟!!", "x" * 5000])
def test_unanswerable_question_is_400(server: str, question: str) -> None:
    r = ask(server, {"question": question})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error and "\n" not in error


def test_oversized_body_is_413_json(server: str) -> None:
    body = json.dumps({"question": "x" * (MAX_BODY_BYTES + 10)}).encode()
    r = requests.post(
        f"{server}/api/ask", data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert r.status_code == 413
    assert "error" in r.json()
    # Without Content-Length (chunked), the limit is counted while reading.
    chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))
    r = requests.post(
        f"{server}/api/ask", data=chunks, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert r.status_code == 413
    assert "error" in r.json()


def test_bearer_token(assistant: Assistant) -> None:
    token = "s3cret-token"
    with running(create_app(assistant, assistant.settings.replace(api_token=token))) as url:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
            r = ask(url, {"question": ARABIC}, headers=headers)
            assert r.status_code == 401
            assert r.json() == {"error": "a valid bearer token is required"}
            assert r.headers["WWW-Authenticate"] == "Bearer"
        r = ask(url, {"question": ARABIC}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert r.json()["sources"]
        spec = requests.get(f"{url}/openapi.json", timeout=10).json()
        assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_rate_limit(assistant: Assistant) -> None:
    limit = 3
    settings = assistant.settings.replace(rate_limit_per_minute=limit)
    with running(create_app(assistant, settings)) as url:
        codes = [ask(url, {"question": ARABIC}).status_code for _ in range(limit)]
        assert codes == [200] * limit
        r = ask(url, {"question": ARABIC})
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) >= 1 and "error" in r.json()


def test_a_full_queue_answers_503_and_the_rest_are_answered(
    assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The one answer slot is held until the test lets go, so the queue is provably full when
    # the extra request arrives: no race between requests.
    answering, release = threading.Event(), threading.Event()
    real_ask = assistant.ask

    def held_ask(*args: Any, **kwargs: Any) -> Answer:
        answering.set()
        release.wait(timeout=120)  # bounded: a broken test must not hang the suite
        return real_ask(*args, **kwargs)

    monkeypatch.setattr(assistant, "ask", held_ask)
    settings = assistant.settings.replace(max_concurrency=1, max_queue=1, rate_limit_per_minute=0)
    with running(create_app(assistant, settings)) as url, ThreadPoolExecutor(1) as pool:
        try:
            held = pool.submit(ask, url, {"question": ARABIC})
            assert answering.wait(timeout=120), "the first request never reached the assistant"
            busy = ask(url, {"question": ARABIC})
            health = requests.get(f"{url}/api/health", timeout=10)
        finally:
            release.set()
        answered = held.result()
        after = ask(url, {"question": ARABIC})
    assert busy.status_code == 503, busy.text
    assert busy.headers["Retry-After"] == "1" and "busy" in busy.json()["error"]
    assert health.status_code == 503 and health.json()["status"] == "busy"
    assert answered.status_code == 200 and "140" in answered.json()["answer"]
    assert after.status_code == 200  # the slot is free again once the answer is sent


def test_an_unreachable_answer_backend_is_a_502(assistant: Assistant) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once it is closed
    settings = assistant.settings.replace(
        llm="openai:absent", llm_base_url=f"http://127.0.0.1:{port}/v1", llm_timeout=5.0
    )
    with running(create_app(Assistant(settings))) as url:
        r = ask(url, {"question": ARABIC})
    assert r.status_code == 502
    error = r.json()["error"]
    assert error.startswith("the answer backend failed: cannot reach the LLM at ")
    assert "\n" not in error


def test_rate_limiter_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.retry_after("a") is None for _ in range(60))
    wait = limiter.retry_after("a")
    assert wait is not None and 0 < wait <= 1
    assert limiter.retry_after("b") is None  # clients are counted apart
    now[0] += 1.0
    assert limiter.retry_after("a") is None


def test_gradio_client_ask_matches_http_api(server: str) -> None:
    client = Client(f"{server}/", verbose=False)
    via_gradio = client.predict(ARABIC, "[]", api_name="/ask")
    via_http = ask(server, {"question": ARABIC, "history": []}).json()
    assert via_gradio == via_http
    history = json.dumps(
        [
            {"role": "user", "content": ARABIC},
            {"role": "assistant", "content": via_http["answer"]},
        ]
    )
    follow_up = client.predict("ومن أعلن مسؤوليته عنه؟", history, api_name="/ask")
    assert follow_up["language"] == "ar"
    assert follow_up["query"] != follow_up["question"]


def test_ui_login(assistant: Assistant) -> None:
    """``ui_auth`` puts the chat and its Gradio API behind a login (and /api, see
    test_ui_policy); the health probe stays open."""
    settings = assistant.settings.replace(ui_auth="ana:kalima")
    with running(create_app(assistant, settings)) as url:
        assert requests.get(f"{url}/config", timeout=10).status_code == 401
        with pytest.raises(AuthenticationError):
            Client(f"{url}/", verbose=False)
        client = Client(f"{url}/", auth=("ana", "kalima"), verbose=False)
        assert client.predict(ARABIC, "[]", api_name="/ask")["sources"]
        assert requests.get(f"{url}/api/health", timeout=10).status_code == 200
