"""What readers said about answers: thumbs up or down, with an optional comment, kept in SQLite
in the cache dir (``Settings.cache_dir / "feedback.sqlite"``) for the operator to read back with
``sanad feedback export``.

Each row keeps the question, the answer and the passages it cited as the server gave them, so
that an export says what was judged, not only that something was. Importing this module does not
import Gradio: the CLI uses it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

if TYPE_CHECKING:
    from index import Settings

FILE_NAME = "feedback.sqlite"
#: Longest comment accepted, in characters.
MAX_COMMENT_CHARS = 2000
#: Longest question or answer stored (the chat's own limits are well below it).
MAX_TEXT_CHARS = 20_000
#: Rows kept at most: past it new feedback is refused, so a flood cannot fill the disk.
MAX_ROWS = 100_000

Verdict = Literal["up", "down"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('up', 'down')),
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    sources TEXT NOT NULL,
    comment TEXT,
    language TEXT,
    backend TEXT,
    document TEXT
)
"""
# The key that signs a vote's receipt (``FeedbackStore.receipt``), kept beside the rows it
# names: a new store (a deleted file) makes every old receipt invalid, as its ids are reused.
_KEY_SCHEMA = "CREATE TABLE IF NOT EXISTS receipt_key (key BLOB NOT NULL)"
_COLUMNS = (
    "id",
    "time",
    "verdict",
    "question",
    "answer",
    "sources",
    "comment",
    "language",
    "backend",
    "document",
)


class FeedbackError(ValueError):
    """Feedback that cannot be stored as given; the message is one line for the user."""


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise FeedbackError(f"the {what} must be text")
    if len(value) > limit:
        raise FeedbackError(f"the {what} is {len(value):,} characters long; the limit is {limit:,}")
    if "\x00" in value:
        raise FeedbackError(f"the {what} contains a NUL character")
    return value


class FeedbackStore:
    """The feedback table in the SQLite file at ``path`` (created on first write)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection in one transaction (committed if the block ends well), then closed."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10)
            try:
                with db:
                    db.execute(_SCHEMA)
                    db.execute(_KEY_SCHEMA)
                    yield db
            except sqlite3.DatabaseError as e:  # a corrupt or locked file, a full disk
                raise FeedbackError(f"the feedback store {self.path}: {e}") from None
            finally:
                db.close()

    def add(
        self,
        verdict: Any,
        question: Any,
        answer: Any,
        sources: Sequence[dict[str, Any]] = (),
        *,
        comment: Any = None,
        language: str | None = None,
        backend: str | None = None,
        document: str | None = None,
    ) -> int:
        """Store one verdict; returns its id, for a comment to follow."""
        if verdict not in ("up", "down"):
            raise FeedbackError('the verdict must be "up" or "down"')
        row = (
            datetime.now(UTC).isoformat(timespec="seconds"),
            verdict,
            _text(question, "question", MAX_TEXT_CHARS),
            _text(answer, "answer", MAX_TEXT_CHARS),
            json.dumps(list(sources), ensure_ascii=False),
            None if comment is None else _text(comment, "comment", MAX_COMMENT_CHARS).strip(),
            language,
            backend,
            document,
        )
        with self._db() as db:
            (count,) = db.execute("SELECT count(*) FROM feedback").fetchone()
            if count >= MAX_ROWS:
                raise FeedbackError("the feedback store is full; ask the operator to export it")
            cursor = db.execute(
                "INSERT INTO feedback (time, verdict, question, answer, sources, comment, "
                "language, backend, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        return int(cursor.lastrowid or 0)

    def receipt(self, feedback_id: int, turn: str) -> str:
        """A receipt for the vote ``feedback_id`` on the answer ``turn``, which the reader's
        browser keeps so that the vote shows after a reload and can still be changed. Signed:
        the browser's copy is a visitor's data, and an id alone would let anyone change or
        delete every other reader's feedback."""
        with self._db() as db:
            key = self._key(db)
        return f"{feedback_id}.{_sign(key, feedback_id, turn)}"

    def redeem(self, receipt: Any, turn: str) -> tuple[int, Verdict] | None:
        """The feedback id ``receipt`` stands for and that row's verdict, if this store signed
        it for ``turn`` and the row is still there; None for anything else. The verdict is the
        store's, not the browser's copy: another tab may have changed it since."""
        if not isinstance(receipt, str) or len(receipt) > 100:
            return None
        number, _, mac = receipt.partition(".")
        if not number.isdigit() or len(number) > 18:
            return None
        feedback_id = int(number)
        with self._db() as db:
            if not hmac.compare_digest(mac, _sign(self._key(db), feedback_id, turn)):
                return None
            query = "SELECT verdict FROM feedback WHERE id = ?"
            found = db.execute(query, (feedback_id,)).fetchone()
        return (feedback_id, found[0]) if found else None

    @staticmethod
    def _key(db: sqlite3.Connection) -> bytes:
        # Two servers on one file may both have written a key: the first one counts.
        row = db.execute("SELECT key FROM receipt_key ORDER BY rowid LIMIT 1").fetchone()
        if row is None:
            row = (os.urandom(32),)
            db.execute("INSERT INTO receipt_key (key) VALUES (?)", row)
        return bytes(row[0])

    def set_verdict(self, feedback_id: int, verdict: Any) -> None:
        """Change a stored verdict (the reader changed their mind)."""
        if verdict not in ("up", "down"):
            raise FeedbackError('the verdict must be "up" or "down"')
        self._update(feedback_id, "verdict", verdict)

    def comment(self, feedback_id: int, comment: Any) -> None:
        """Add (or replace) the comment on feedback ``feedback_id``."""
        self._update(feedback_id, "comment", _text(comment, "comment", MAX_COMMENT_CHARS).strip())

    def remove(self, feedback_id: int) -> None:
        """Forget feedback ``feedback_id`` (the reader took the vote back)."""
        if not isinstance(feedback_id, int) or isinstance(feedback_id, bool):
            raise FeedbackError("the feedback id must be a number")
        with self._db() as db:
            db.execute("DELETE FROM feedback WHERE id = ?", (feedback_id,))

    def _update(self, feedback_id: int, column: str, value: str) -> None:
        if not isinstance(feedback_id, int) or isinstance(feedback_id, bool):
            raise FeedbackError("the feedback id must be a number")
        with self._db() as db:
            # The column is one of two names above, never a caller's string.
            changed = db.execute(
                f"UPDATE feedback SET {column} = ? WHERE id = ?", (value, feedback_id)
            ).rowcount
        if not changed:
            raise FeedbackError(f"no feedback with id {feedback_id}")

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every row, oldest first, with its sources as a list."""
        if not self.path.exists():
            return
        with self._db() as db:
            query = f"SELECT {', '.join(_COLUMNS)} FROM feedback ORDER BY id"
            fetched = db.execute(query).fetchall()
        for values in fetched:
            row = dict(zip(_COLUMNS, values, strict=True))
            row["sources"] = json.loads(row["sources"])
            yield row

    def export(self, out: TextIO) -> int:
        """Write every row as one JSON line to ``out``; returns how many."""
        n = 0
        for row in self.rows():
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
        return n


def _sign(key: bytes, feedback_id: int, turn: str) -> str:
    message = f"{feedback_id}:{turn}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def store_for(settings: Settings) -> FeedbackStore:
    """The feedback store ``settings`` name: ``feedback_db``, else the cache dir's."""
    return FeedbackStore(settings.feedback_db or Path(settings.cache_dir) / FILE_NAME)
