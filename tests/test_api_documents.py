"""``/api/documents`` and ``/api/ask``'s ``document`` against a real server, the real model and
real FAISS indexes: add an article, list it, ask it; what is refused, and behind which policy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest_ui import running
from test_registry import LIBRARY

from qa import Assistant, Settings
from ui import create_app
from ui.policy import MAX_BODY_BYTES

#: The article's size limit for these servers: LIBRARY fits, a few kilobytes more do not.
LIMIT = 4 * len(LIBRARY.encode())


@pytest.fixture
def doc_settings(tmp_path: Path, assistant: Assistant) -> Settings:
    return assistant.settings.replace(
        documents_dir=tmp_path / "documents", max_document_bytes=LIMIT, max_documents=2
    )


@pytest.fixture
def server(assistant: Assistant, doc_settings: Settings) -> Iterator[str]:
    with running(create_app(assistant, doc_settings)) as url:
        yield url


def stored(settings: Settings) -> list[str]:
    root = settings.documents_dir
    assert root is not None
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def add(url: str, **kwargs: Any) -> requests.Response:
    return requests.post(f"{url}/api/documents", timeout=120, **kwargs)


def one_line_error(r: requests.Response, status: int) -> str:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error and "\n" not in error
    return error


def test_add_list_ask(server: str, assistant: Assistant, doc_settings: Settings) -> None:
    r = add(server, json={"text": LIBRARY, "name": "library"})
    assert r.status_code == 201, r.text
    info = r.json()
    assert {"id", "name", "title", "chars", "chunks"} <= set(info)
    assert info["title"] == LIBRARY.splitlines()[0]
    assert (info["name"], info["chars"]) == ("library", len(LIBRARY))
    # The same text as a file: the same article.
    files = {"file": ("library.txt", LIBRARY.encode(), "text/plain")}
    r = add(server, files=files)
    assert r.status_code == 201 and r.json()["id"] == info["id"]

    listed = requests.get(f"{server}/api/documents", timeout=10).json()
    assert [d["id"] for d in listed][1:] == [info["id"]]
    assert listed[0]["default"] and listed[0]["chars"] == len(assistant.document.text)

    r = requests.post(
        f"{server}/api/ask",
        json={"question": "كم كلفت المكتبة؟", "document": info["id"]},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert not answer["abstained"] and "ثلاثة ملايين دينار" in answer["answer"]
    for source in answer["sources"]:
        assert LIBRARY[source["start"] : source["end"]] == source["text"]
    # Without a document, the default article answers, not the added one.
    r = requests.post(f"{server}/api/ask", json={"question": "كم كلفت المكتبة؟"}, timeout=60)
    assert r.status_code == 200
    assert all("صفاقس" not in s["text"] for s in r.json()["sources"])
    assert stored(doc_settings) == [f"{info['id']}.json", f"{info['id']}.txt"]


def test_unknown_document_is_404(server: str) -> None:
    for bad in ("0123456789abcdef", "../etc/passwd"):
        r = requests.post(
            f"{server}/api/ask", json={"question": "كم كلفت المكتبة؟", "document": bad}, timeout=10
        )
        assert "no article" in one_line_error(r, 404)


BAD: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "empty.txt"),
    "binary": (b"\x7fELF" + bytes(200), "program.txt"),
    "windows-1256": (LIBRARY.encode("cp1256"), "library.txt"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_uploads_are_400_and_store_nothing(
    server: str, doc_settings: Settings, case: str
) -> None:
    data, name = BAD[case]
    r = add(server, files={"file": (name, data, "text/plain")})
    one_line_error(r, 400)
    assert stored(doc_settings) == []


def test_over_size_is_413(server: str, doc_settings: Settings) -> None:
    # Over the article limit, within the route's body cap: the registry refuses it.
    text = LIBRARY * 5
    assert "limit" in one_line_error(add(server, json={"text": text, "name": "big"}), 413)
    # Over the route's body cap: the policy refuses it before reading it all.
    data = b"a" * (LIMIT + MAX_BODY_BYTES + 1)
    one_line_error(add(server, files={"file": ("big.txt", data, "text/plain")}), 413)
    assert stored(doc_settings) == []
    # A question's cap stays a question's: the larger cap is the documents route's alone.
    body = json.dumps({"question": "س" * (MAX_BODY_BYTES // 2 + 10)}).encode()
    r = requests.post(
        f"{server}/api/ask", data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    one_line_error(r, 413)


def test_too_many_is_409(server: str, doc_settings: Settings) -> None:
    for town in ("صفاقس", "قابس"):
        assert add(server, json={"text": LIBRARY.replace("صفاقس", town)}).status_code == 201
    r = add(server, json={"text": LIBRARY.replace("صفاقس", "تونس")})
    assert "SANAD_MAX_DOCUMENTS" in one_line_error(r, 409)
    assert len(stored(doc_settings)) == 4


def test_other_bodies(server: str) -> None:
    one_line_error(add(server, data=LIBRARY.encode(), headers={"Content-Type": "text/plain"}), 415)
    r = add(server, files={"text": ("x", b"y")})
    assert "file" in one_line_error(r, 400)
    r = add(server, json={"text": 3})
    assert r.status_code == 422 and r.json()["detail"]


def test_documents_need_the_token(assistant: Assistant, doc_settings: Settings) -> None:
    token = "s3cret-token"
    with running(create_app(assistant, doc_settings.replace(api_token=token))) as url:
        r = add(url, json={"text": LIBRARY})
        assert one_line_error(r, 401) == "a valid bearer token is required"
        one_line_error(requests.get(f"{url}/api/documents", timeout=10), 401)
        assert stored(doc_settings) == []
        auth = {"Authorization": f"Bearer {token}"}
        assert add(url, json={"text": LIBRARY}, headers=auth).status_code == 201
        r = requests.get(f"{url}/api/documents", headers=auth, timeout=10)
        assert r.status_code == 200 and len(r.json()) == 2
