"""The registry of articles (``qa.Documents``): adding, listing, persisting, refusing, and
answering from an added article, with the real model and real FAISS indexes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qa import (
    Assistant,
    DocumentError,
    DocumentLimitError,
    DocumentNotFoundError,
    Documents,
    Settings,
)
from ui import cli

# A short news item written for these tests, so that an answer from it cannot come from the
# packaged article. Title first, as people paste them.
LIBRARY = """\
افتتاح مكتبة عامة جديدة في مدينة صفاقس

افتتحت بلدية صفاقس يوم الأحد مكتبة عامة جديدة في وسط المدينة، تضم أكثر من خمسة وعشرين ألف كتاب.

وقال رئيس البلدية إن بناء المكتبة كلف نحو ثلاثة ملايين دينار، وإنها ستفتح أبوابها للقراء \
من الساعة الثامنة صباحاً حتى الثامنة مساءً.

وتضم المكتبة قاعة للأطفال وقاعة للمطالعة تتسع لمئتي قارئ، إضافة إلى ركن للكتب الرقمية.
"""

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>مكتبة | موقع</title></head>
<body><nav><a href="/">الرئيسية</a> <a href="/sport">رياضة</a></nav>
<article><h1>افتتاح حديقة عامة في مدينة سوسة</h1>
<p>افتتحت بلدية سوسة يوم الاثنين حديقة عامة جديدة تمتد على مساحة عشرة هكتارات قرب البحر.</p>
<p>وقال مدير المشروع إن الحديقة تضم أكثر من ثلاثة آلاف شجرة وملعباً للأطفال.</p></article>
<footer>جميع الحقوق محفوظة</footer><script>var tracker = 1;</script></body></html>
"""


@pytest.fixture
def doc_settings(tmp_path: Path, settings: Settings) -> Settings:
    """The session's settings (its fresh index folder), with an empty documents folder."""
    return settings.replace(documents_dir=tmp_path / "documents")


@pytest.fixture
def documents(doc_settings: Settings, assistant: Assistant) -> Documents:
    return Documents(doc_settings, default=assistant)


def stored(doc_settings: Settings) -> list[str]:
    root = doc_settings.documents_dir
    assert root is not None
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_add_list_and_persist(documents: Documents, doc_settings: Settings) -> None:
    info = documents.add(LIBRARY.encode(), "library.txt")
    assert info.name == "library.txt"
    assert info.title == "افتتاح مكتبة عامة جديدة في مدينة صفاقس"
    assert info.chars == len(LIBRARY)
    assert info.chunks >= 3
    assert not info.default and info.added
    listed = documents.list()
    assert listed[0] == documents.default_info and listed[0].default
    assert listed[1:] == [info]
    assert stored(doc_settings) == [f"{info.id}.json", f"{info.id}.txt"]
    # The same text again, pasted this time: the same article, nothing new stored.
    assert documents.add(LIBRARY, "again") == info
    assert stored(doc_settings) == [f"{info.id}.json", f"{info.id}.txt"]
    # A new registry (as after a restart) lists it and answers from it.
    again = Documents(doc_settings, default=documents.default)
    assert again.list() == listed
    assert again.get(info.id) == info
    assert again.assistant(info.id).document.text == LIBRARY


def test_the_default_article_is_listed_and_answers(documents: Documents) -> None:
    default = documents.default_info
    assert documents.list() == [default]
    assert documents.get() == default == documents.get(default.id)
    assert documents.assistant() is documents.default
    assert default.chars == len(documents.default.document.text)
    # Adding the default article's text is adding nothing.
    assert documents.add(documents.default.document.text, "copy.txt") == default


def test_ask_an_added_article(documents: Documents) -> None:
    info = documents.add(LIBRARY.encode(), "library.md")
    answer = documents.assistant(info.id).ask("كم كلفت المكتبة؟")
    assert not answer.abstained, answer.answer
    assert "ثلاثة ملايين دينار" in answer.answer
    for source in answer.sources:
        assert LIBRARY[source.start : source.end] == source.text
    (start, end), *_ = answer.sources[0].highlights
    assert LIBRARY[start:end] in answer.answer


def test_a_web_page_is_its_article_text(documents: Documents) -> None:
    info = documents.add(PAGE.encode(), "park.html")
    assert info.title == "افتتاح حديقة عامة في مدينة سوسة"
    text = documents.assistant(info.id).document.text
    assert "عشرة هكتارات" in text and "ثلاثة آلاف شجرة" in text
    for boilerplate in ("الرئيسية", "رياضة", "جميع الحقوق", "tracker", "<p>"):
        assert boilerplate not in text


# name -> (data, file name, words the one-line error must contain)
BAD: dict[str, tuple[bytes, str, tuple[str, ...]]] = {
    "empty": (b"", "empty.txt", ("empty",)),
    "blank": (b" \n\t\n", "blank.txt", ("no text",)),
    "binary": ("نص".encode() + b"\x00\x01\x02" * 50, "a.txt", ("binary",)),
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(64), "photo.txt", ("PNG",)),
    "pdf": (b"%PDF-1.7\n" + bytes(64), "article.pdf", ("PDF",)),
    "windows-1256": (LIBRARY.encode("cp1256"), "library.txt", ("not UTF-8", "WINDOWS-1256")),
    "utf-16": (LIBRARY.encode("utf-16"), "library.txt", ("UTF-16",)),
    "docx": (b"PK\x03\x04" + bytes(64), "library.docx", (".docx", ".txt, .md or .html")),
    # A page that its scripts fill in: there is no article in what was saved.
    "script-only page": (
        b"<html><body><div id=app></div><script>render()</script></body></html>",
        "x.html",
        ("no article",),
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_and_stores_nothing(
    documents: Documents, doc_settings: Settings, case: str
) -> None:
    data, name, words = BAD[case]
    with pytest.raises(DocumentError) as e:
        documents.add(data, name)
    message = str(e.value)
    assert "\n" not in message
    for word in words:
        assert word in message
    assert stored(doc_settings) == []
    assert documents.list() == [documents.default_info]


def test_too_big_and_too_many(doc_settings: Settings, assistant: Assistant) -> None:
    small = Documents(
        doc_settings.replace(max_document_bytes=len(LIBRARY.encode()), max_documents=1),
        default=assistant,
    )
    with pytest.raises(DocumentError, match=r"over the .* limit") as e:
        small.add(LIBRARY.encode() + b"!", "big.txt")
    assert "\n" not in str(e.value)
    info = small.add(LIBRARY.encode(), "library.txt")
    with pytest.raises(DocumentLimitError, match="SANAD_MAX_DOCUMENTS"):
        small.add(LIBRARY.replace("صفاقس", "قابس").encode(), "other.txt")
    assert small.add(LIBRARY, "same") == info  # what is there can still be added again
    assert stored(doc_settings) == [f"{info.id}.json", f"{info.id}.txt"]


def test_unknown_ids(documents: Documents) -> None:
    for bad in ("0123456789abcdef", "../../etc/passwd", "", "x" * 500):
        with pytest.raises(DocumentNotFoundError) as e:
            documents.assistant(bad or "none")
        assert "\n" not in str(e.value) and len(str(e.value)) < 100


def test_damaged_metadata_is_skipped(documents: Documents, doc_settings: Settings) -> None:
    info = documents.add(LIBRARY.encode(), "library.txt")
    assert doc_settings.documents_dir is not None
    (doc_settings.documents_dir / f"{info.id}.json").write_text("{not json", encoding="utf-8")
    assert documents.list() == [documents.default_info]
    with pytest.raises(DocumentNotFoundError):
        documents.get(info.id)


def test_loaded_assistants_are_bounded(doc_settings: Settings, assistant: Assistant) -> None:
    documents = Documents(doc_settings, default=assistant, max_loaded=1)
    first = documents.add(LIBRARY.encode(), "a.txt")
    second = documents.add(LIBRARY.replace("صفاقس", "قابس").encode(), "b.txt")
    kept = documents.assistant(second.id)
    assert documents.assistant(second.id) is kept  # kept while it is the newest
    assert documents.assistant(first.id) is not kept
    assert documents.assistant(second.id) is not kept  # dropped for the other, loaded again
    # What every article's Assistant needs alike is loaded once: the model and the dictionary.
    assert kept.embeddings is assistant.embeddings
    assert kept.retrieval.lexicon is assistant.retrieval.lexicon


def test_cli_add_and_list(
    doc_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("SANAD_INDEX_DIR", str(doc_settings.index_dir))
    monkeypatch.setenv("SANAD_DOCUMENTS_DIR", str(doc_settings.documents_dir))
    article = tmp_path / "library.md"
    article.write_text(LIBRARY, encoding="utf-8")
    assert cli.main(["documents", "add", str(article)]) == 0
    added = capsys.readouterr().out
    assert LIBRARY.splitlines()[0] in added
    assert cli.main(["documents", "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["default"] for d in listed] == [True, False]
    assert listed[1]["name"] == "library.md" and listed[1]["id"] in added
    (tmp_path / "old.txt").write_bytes(LIBRARY.encode("cp1256"))
    assert cli.main(["documents", "add", str(tmp_path / "old.txt")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("sanad: error: ") and error.count("\n") == 1 and "UTF-8" in error
