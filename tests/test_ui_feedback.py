"""The feedback store: verdicts and comments into SQLite, kept across restarts, exported as JSON
lines by the store and by ``sanad feedback export``; bad input is a one-line refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from conftest_ui import fn_index, gradio_config, queue_call, running

from qa import Assistant, Settings
from ui import cli, create_app
from ui.feedback import MAX_COMMENT_CHARS, FeedbackError, FeedbackStore, store_for

SOURCES = [{"n": 1, "cited": True, "text": "«نص»", "start": 3, "end": 7}]


def test_verdicts_and_comments_persist_and_export_as_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "feedback.sqlite"
    first = FeedbackStore(path).add("down", "كم؟", "بحسب المقال [1]", SOURCES, language="ar")
    second = FeedbackStore(path).add("up", "Who?", "The article says [1]", [])
    FeedbackStore(path).comment(first, "  الرقم خطأ  ")
    FeedbackStore(path).set_verdict(second, "down")

    lines = []

    class Out:
        def write(self, text: str) -> None:
            lines.append(text)

    assert FeedbackStore(path).export(Out()) == 2  # type: ignore[arg-type]
    rows = [json.loads(line) for line in "".join(lines).splitlines()]
    assert [r["id"] for r in rows] == [first, second]
    assert rows[0]["verdict"] == "down" and rows[0]["comment"] == "الرقم خطأ"
    assert rows[0]["question"] == "كم؟" and rows[0]["sources"] == SOURCES
    assert rows[0]["language"] == "ar" and rows[0]["time"].endswith("+00:00")
    assert rows[1]["verdict"] == "down" and rows[1]["comment"] is None

    FeedbackStore(path).remove(second)
    assert [r["id"] for r in FeedbackStore(path).rows()] == [first]


def test_a_vote_s_receipt_names_its_row_only_for_its_answer_and_this_store(
    tmp_path: Path,
) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    mine = store.add("down", "كم؟", "بحسب المقال [1]")
    theirs = store.add("up", "Who?", "The article says [1]")
    receipt = store.receipt(mine, "0123456789ab")
    assert FeedbackStore(store.path).redeem(receipt, "0123456789ab") == (mine, "down")  # restart
    store.set_verdict(mine, "up")  # in another tab: the store's verdict is the one shown
    assert store.redeem(receipt, "0123456789ab") == (mine, "up")
    assert store.redeem(receipt, "ba9876543210") is None  # another answer
    mac = receipt.split(".")[1]
    assert store.redeem(f"{theirs}.{mac}", "0123456789ab") is None  # another reader's row
    assert store.redeem(str(theirs), "0123456789ab") is None
    for junk in (None, 42, "", ".", "x.y", "9" * 30 + "." + mac, receipt + "0" * 100):
        assert store.redeem(junk, "0123456789ab") is None
    other = FeedbackStore(tmp_path / "other.sqlite")
    other.add("down", "كم؟", "بحسب المقال [1]")
    assert other.redeem(receipt, "0123456789ab") is None  # another server's key
    store.remove(mine)
    assert store.redeem(receipt, "0123456789ab") is None  # the vote was taken back


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.add("meh", "q", "a"), 'verdict must be "up" or "down"'),
        (lambda s: s.add("up", 42, "a"), "question must be text"),
        (
            lambda s: s.add("up", "q", "a", comment="x" * (MAX_COMMENT_CHARS + 1)),
            f"the limit is {MAX_COMMENT_CHARS:,}",
        ),
        (lambda s: s.comment(1, ["not", "text"]), "comment must be text"),
        (lambda s: s.comment(999, "fine"), "no feedback with id 999"),
        (lambda s: s.comment("1", "fine"), "feedback id must be a number"),
        (lambda s: s.add("up", "q\x00", "a"), "NUL"),
    ],
)
def test_bad_feedback_is_a_one_line_error_and_stores_nothing(
    tmp_path: Path, call, message: str
) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    with pytest.raises(FeedbackError, match=message) as e:
        call(store)
    assert "\n" not in str(e.value)
    assert list(store.rows()) == []


def test_the_store_lives_in_the_cache_dir_unless_named(tmp_path: Path) -> None:
    assert store_for(Settings(cache_dir=tmp_path)).path == tmp_path / "feedback.sqlite"
    named = tmp_path / "elsewhere.sqlite"
    assert store_for(Settings(cache_dir=tmp_path, feedback_db=named)).path == named


def test_sanad_feedback_export_writes_jsonl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "feedback.sqlite"
    monkeypatch.setenv("SANAD_FEEDBACK_DB", str(db))
    FeedbackStore(db).add("down", "كم عدد القتلى؟", "بحسب المقال [1]", SOURCES, comment="خطأ")

    assert cli.main(["feedback", "export"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["comment"] == "خطأ"
    assert "1 feedback rows exported" in err

    target = tmp_path / "out.jsonl"
    assert cli.main(["feedback", "export", "-o", str(target)]) == 0
    assert json.loads(target.read_text(encoding="utf-8"))["question"] == "كم عدد القتلى؟"
    capsys.readouterr()

    db.write_bytes(b"this is not a database" * 100)
    assert cli.main(["feedback", "export"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sanad: error: the feedback store ") and err.count("\n") == 1
    assert "not a database" in err


def test_feedback_goes_through_the_access_policy(assistant: Assistant, tmp_path: Path) -> None:
    """The chat's feedback handlers are Gradio events like the rest: the token guards them,
    they go through the queue, and a session can vote only on answers it was given."""
    db = tmp_path / "feedback.sqlite"
    settings = assistant.settings.replace(api_token="t0ken", feedback_db=db)
    with running(create_app(assistant, settings)) as url:
        bearer = {"Authorization": "Bearer t0ken"}
        vote = fn_index(gradio_config(url, headers=bearer), "vote")
        like = {"index": 1, "value": ["sanad-t-0123456789ab"], "liked": False}
        body = {
            "data": [None, None, None],
            "fn_index": vote,
            "session_hash": "s",
            "event_data": like,
        }
        for route in ("queue/join", "run/vote"):
            refused = requests.post(f"{url}/gradio_api/{route}", json=body, timeout=10)
            assert refused.status_code == 401, route
        # No way around the queue, even with the token.
        direct = requests.post(f"{url}/gradio_api/run/vote", json=body, headers=bearer, timeout=10)
        assert direct.status_code == 404
        done = queue_call(url, vote, [None, None, None], event_data=like, headers=bearer)
        assert done["success"], done
    assert list(FeedbackStore(db).rows()) == []  # no such answer in that session
