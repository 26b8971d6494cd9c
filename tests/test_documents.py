"""Documents a user points sanad at: what is refused (one clear line each) and what works.

Refusals are checked through ``load_document`` and through the ``sanad`` command line, where each
must be one ``sanad: error: ...`` line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from index import Document, DocumentError, Settings, load_document
from qa import Assistant
from ui import cli

ARTICLE = load_document(Settings.from_env(env={})).text
SANAD = Path(sys.executable).with_name("sanad")

# A short Arabic news item in Markdown: a heading, emphasis, a list and a quote, as people write.
MARKDOWN = """\
# افتتاح محطة طاقة شمسية جديدة في أسوان

**أسوان، 3 مايو 2024** — افتتحت مصر يوم الجمعة توسعة مجمع بنبان للطاقة الشمسية في محافظة أسوان.

## القدرة والتكلفة

- تضيف التوسعة قدرة 200 ميغاواط إلى الشبكة الوطنية.
- بلغت تكلفة المشروع 150 مليون دولار بتمويل من بنك التنمية الأفريقي.

> قال وزير الكهرباء محمد شاكر إن المحطة ستوفر الكهرباء لنحو 130 ألف منزل.

ويعد مجمع بنبان من أكبر مجمعات الطاقة الشمسية في العالم.
"""


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# name -> (make the bad document in a folder, words the one-line error must contain)
BAD: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    "missing": (lambda d: d / "nope.txt", ("not found", "nope.txt")),
    "directory": (lambda d: d, ("directory",)),
    "nul bytes": (
        lambda d: _write(d / "a.bin", "نص".encode() + b"\x00\x01\x02" * 50),
        ("binary", "NUL"),
    ),
    "png": (
        lambda d: _write(d / "photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)),
        ("PNG", "not a text file"),
    ),
    "png header only": (  # no NUL at all: the signature, not the NUL check, must catch it
        lambda d: _write(d / "photo2.txt", b"\x89PNG\r\n\x1a\n"),
        ("PNG",),
    ),
    "windows-1256": (
        lambda d: _write(d / "cp1256.txt", ARTICLE[:2000].encode("cp1256", errors="replace")),
        ("not UTF-8", "iconv", "WINDOWS-1256"),
    ),
    "utf-16": (
        lambda d: _write(d / "wide.txt", ARTICLE[:500].encode("utf-16")),
        ("UTF-16", "iconv"),
    ),
    "empty": (lambda d: _write(d / "empty.txt", b""), ("empty",)),
    "whitespace only": (
        lambda d: _write(d / "blank.txt", b" \n\t\r\n   \n\xc2\xa0\n"),
        ("no text",),
    ),
    "punctuation only": (lambda d: _write(d / "dots.txt", "... ؟ ، !\n".encode()), ("no text",)),
    "newline in the name": (lambda d: d / "two\nlines.txt", ("not found", "two\\x0alines")),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_documents_raise_one_line_errors(tmp_path: Path, case: str) -> None:
    make, words = BAD[case]
    path = make(tmp_path)
    with pytest.raises(DocumentError) as e:
        load_document(Settings.from_env(env={}, document=path))
    message = str(e.value)
    assert "\n" not in message and "\r" not in message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("case", BAD)
def test_bad_documents_on_the_command_line_are_one_line_and_exit_2(
    tmp_path: Path,
    case: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    index_dir: Path,
) -> None:
    # In process (the same code path as the console script) to keep this fast; one real
    # subprocess below checks the exit status and the absence of a traceback end to end.
    monkeypatch.setenv("SANAD_INDEX_DIR", str(index_dir))
    monkeypatch.delenv("SANAD_DOCUMENT", raising=False)
    path = BAD[case][0](tmp_path)
    assert cli.main(["ask", "Who is Caleb Weiss?", "--document", str(path)]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith("sanad: error: ") and out.err.count("\n") == 1, out.err
    assert BAD[case][1][0] in out.err


def test_console_script_reports_a_bad_encoding_in_one_line(tmp_path: Path, index_dir: Path) -> None:
    path = BAD["windows-1256"][0](tmp_path)
    env = {**os.environ, "SANAD_INDEX_DIR": str(index_dir)}
    env.pop("SANAD_DOCUMENT", None)
    done = subprocess.run(
        [str(SANAD), "ask", "من نفذ الهجوم؟", "--document", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("sanad: error: cp1256.txt is not UTF-8")
    assert "iconv -f WINDOWS-1256 -t UTF-8 cp1256.txt" in lines[0]
    assert "Traceback" not in done.stderr


def test_a_50_mb_file_is_refused_at_once_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings.from_env(env={}).max_document_bytes == 20_000_000
    path = tmp_path / "huge.txt"
    line = "هذا سطر من نص عربي طويل جدا لتجربة حد الحجم.\n".encode()
    with path.open("wb") as f:
        f.write(line * (50_000_000 // len(line) + 1))
    assert path.stat().st_size > 50_000_000

    # Reading 50 MB would have to open the file: make that fail the test.
    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the oversized document was opened")

    monkeypatch.setattr(Path, "open", no_reading)
    monkeypatch.setattr(Path, "read_bytes", no_reading)
    t0 = time.perf_counter()
    with pytest.raises(DocumentError) as e:
        load_document(Settings.from_env(env={}, document=path))
    assert time.perf_counter() - t0 < 1.0
    message = str(e.value)
    assert "\n" not in message
    assert "50.0 MB" in message and "20 MB" in message and "SANAD_MAX_DOCUMENT_BYTES" in message


def test_the_size_limit_comes_from_the_environment(tmp_path: Path) -> None:
    path = _write(tmp_path / "small.txt", ARTICLE[:3000].encode())
    settings = Settings.from_env(env={"SANAD_MAX_DOCUMENT_BYTES": "1000"}, document=path)
    with pytest.raises(DocumentError, match=re.escape("over the 0.001 MB limit")):
        load_document(settings)
    # The same file under the default limit is fine.
    assert load_document(Settings.from_env(env={}, document=path)).text == ARTICLE[:3000]


@pytest.mark.parametrize("special", ["fifo", "/dev/null"])
def test_pipes_and_devices_are_refused_instead_of_read(tmp_path: Path, special: str) -> None:
    # A FIFO with no writer blocks its reader for ever, and a device such as /dev/zero never
    # ends (stat says 0 bytes, so no size check catches it). /dev/null stands in for the
    # devices: a regression on /dev/zero would eat the test machine's memory.
    if special == "fifo":
        path = tmp_path / "pipe.txt"
        os.mkfifo(path)
    else:
        path = Path(special)
    result: list[BaseException | Document] = []

    def load() -> None:
        try:
            result.append(load_document(Settings.from_env(env={}, document=path)))
        except BaseException as e:  # reported below, on the test's thread
            result.append(e)

    # A thread with a deadline turns a regression into a failure rather than a hung suite.
    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive() and special == "fifo":
        with open(path, "wb"):  # unblock the reader so the thread can end
            pass
        worker.join(timeout=10)
    assert result and isinstance(result[0], DocumentError), f"load_document blocked or read {path}"
    assert "not a regular file" in str(result[0])
    assert "\n" not in str(result[0])


def test_a_utf8_bom_is_dropped(tmp_path: Path) -> None:
    path = _write(tmp_path / "bom.txt", b"\xef\xbb\xbf" + ARTICLE.encode())
    doc = load_document(Settings.from_env(env={}, document=path))
    assert doc.text == ARTICLE
    # Same text, same hash: the BOM file shares the packaged article's index.
    assert doc.sha256 == load_document(Settings.from_env(env={})).sha256


def test_crlf_article_answers_with_offsets_into_its_text(
    tmp_path: Path, settings: Settings, assistant: Assistant
) -> None:
    raw = ARTICLE.replace("\n", "\r\n")
    path = _write(tmp_path / "crlf.txt", raw.encode())
    # The session assistant loaded the index first, so this one reuses it (same text, same hash).
    bot = Assistant(settings.replace(document=path))
    assert "\r" not in bot.document.text
    assert bot.document.text == ARTICLE
    assert bot.index.path == assistant.index.path
    a = bot.ask("How many people were killed in the Moscow concert hall attack?")
    assert not a.abstained and "140" in a.answer
    for s in a.sources:
        assert bot.document.text[s.start : s.end] == s.text
        # Each offset maps back to the file by counting the newlines before it.
        assert s.text.replace("\n", "\r\n") in raw
        for hs, he in s.highlights:
            assert s.start <= hs < he <= s.end
    for c in bot.index.chunks:
        for ss, se in c.sentences:
            assert c.start <= ss < se <= c.end
            assert "\r" not in bot.document.text[ss:se]


def test_markdown_article_is_answered_from_its_own_text(tmp_path: Path, settings: Settings) -> None:
    path = _write(tmp_path / "aswan.md", MARKDOWN.encode())
    bot = Assistant(settings.replace(document=path))
    assert bot.document.name == "aswan.md"
    a = bot.ask("كم بلغت تكلفة المشروع؟")
    assert not a.abstained, a.answer
    assert "150 مليون دولار" in a.answer
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", a.answer)]
    assert cited
    source = a.sources[cited[0] - 1]
    assert source.text in MARKDOWN
    assert MARKDOWN[source.start : source.end] == source.text
    quote = re.search(r"«(.+?)»", a.answer)
    assert quote and quote.group(1) in MARKDOWN
    # And a question the article does not answer is not answered from it.
    assert bot.ask("What is the capital of France?").abstained
