"""``sanad ask | chat | eval`` as a user runs them: the real console script in subprocesses, on the
session's index (``SANAD_INDEX_DIR``), so they load it rather than build their own.

Starting sanad costs seconds (torch, transformers), so the four commands start together in one
module fixture and each test reads its own result.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DEV_FILE, load_jsonl

import qa.assistant
from index import normalize
from qa import Assistant
from ui import cli

SANAD = Path(sys.executable).with_name("sanad")
Q_EN = "How many people were killed in the Moscow concert hall attack?"
Q_AR = "من هو حبيب يوسف؟"
Q_FOLLOW = "وما هو منصبه الآن؟"

# One line of each kind: good, not JSON, JSON but not an object, an empty question, a follow-up
# with history, a question with the wrong type, and a blank line (skipped, not an error).
JSONL_LINES = [
    json.dumps({"question": Q_EN}),
    "{not json",
    json.dumps(["a", "list"]),
    json.dumps({"question": "   "}),
    json.dumps({"question": Q_FOLLOW, "history": [Q_AR]}, ensure_ascii=False),
    json.dumps({"question": 42}),
    "",
]


@dataclass
class Run:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def runs(assistant: Assistant, index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every command, run at once; ``assistant`` first, so that the index exists."""
    work = tmp_path_factory.mktemp("cli")
    (work / "questions.jsonl").write_text("\n".join(JSONL_LINES) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANAD_")}
    env["SANAD_INDEX_DIR"] = str(index_dir)
    # Four processes share the machine's cores: one torch thread each keeps them from spinning
    # against each other (torch's default is a thread per core in every process).
    env["OMP_NUM_THREADS"] = "1"
    commands = {
        "json": (["ask", Q_EN, "--json"], None),
        "jsonl": (["ask", "--jsonl", str(work / "questions.jsonl")], None),
        "chat": (["chat"], f"{Q_AR}\n{Q_FOLLOW}\n\n"),
        "eval": (["eval", str(DEV_FILE), "--json", str(work / "rows.jsonl")], None),
    }
    procs = {
        name: subprocess.Popen(
            [str(SANAD), *args],
            env=env,
            cwd=work,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (args, _) in commands.items()
    }
    out: dict[str, Run | Path] = {"work": work}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(commands[name][1], timeout=600)
        out[name] = Run(commands[name][0], proc.returncode, stdout, stderr)
    return out


def _clean_stderr(run: Run) -> None:
    # Loading the index it was pointed at: no rebuild, no traceback.
    assert "Traceback" not in run.stderr
    assert "rebuilding the index" not in run.stderr and "indexing" not in run.stderr


def test_ask_json_prints_the_answer_dict(runs: dict, assistant: Assistant) -> None:
    run = runs["json"]
    assert run.returncode == 0, run.stderr
    _clean_stderr(run)
    printed = json.loads(run.stdout)
    expected = assistant.ask(Q_EN).to_dict()
    assert set(printed) == set(expected)
    assert printed["answer"] == expected["answer"] and "140" in printed["answer"]
    assert [s["chunk_id"] for s in printed["sources"]] == [
        s["chunk_id"] for s in expected["sources"]
    ]
    text = assistant.document.text
    for s in printed["sources"]:
        assert text[s["start"] : s["end"]] == s["text"]


def test_ask_jsonl_answers_each_line_and_reports_bad_ones(runs: dict) -> None:
    run = runs["jsonl"]
    assert run.returncode == 1, run.stderr  # some lines failed
    _clean_stderr(run)
    out = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(out) == 6  # one per non-blank line, in order
    good, not_json, not_object, blank, follow, wrong_type = out
    assert good["question"] == Q_EN and "140" in good["answer"]
    assert not_json["line"] == 2 and "error" in not_json
    assert not_object == {"line": 3, "error": "each line must be a JSON object"}
    assert blank == {"line": 4, "error": "please type a question"}
    assert not follow["abstained"]
    assert normalize("مجلس القيادة") in normalize(follow["answer"])
    assert wrong_type == {"line": 6, "error": "the question must be text"}
    for err in (not_json, not_object, blank, wrong_type):
        assert "\n" not in err["error"]


def test_chat_answers_piped_questions_and_follows_up(runs: dict, assistant: Assistant) -> None:
    run = runs["chat"]
    assert run.returncode == 0, run.stderr
    _clean_stderr(run)
    assert run.stdout.startswith("sanad: ask about article.txt (packaged).")
    first = assistant.ask(Q_AR)
    follow = assistant.ask(
        Q_FOLLOW,
        [{"role": "user", "content": Q_AR}, {"role": "assistant", "content": first.answer}],
    )
    assert not follow.abstained
    assert normalize("مجلس القيادة") in normalize(follow.answer)
    # The chat printed both answers, the follow-up anchored to the first question.
    turns = run.stdout.split("> ")
    assert len(turns) == 4  # banner, two answers, and the prompt answered by the empty line
    assert turns[1].startswith(first.answer + "\n  [1] ")
    assert turns[2].startswith(follow.answer + "\n  [1] ")


def test_eval_prints_the_table_and_writes_rows(runs: dict) -> None:
    run = runs["eval"]
    assert run.returncode == 0, run.stderr
    _clean_stderr(run)
    assert run.stdout.startswith("| answerable | n | hit@1 |")
    assert re.search(r"^\| all \| \d+ \|", run.stdout, re.MULTILINE)
    assert re.search(r"^\| unanswerable \| (ar|en) \| \d+ \|", run.stdout, re.MULTILINE)
    questions = load_jsonl(DEV_FILE)
    assert f"over {len(questions)} questions" in run.stdout
    rows = load_jsonl(runs["work"] / "rows.jsonl")
    assert [r["id"] for r in rows] == [q["id"] for q in questions]
    for r in rows:
        assert r["answer"] and isinstance(r["abstained"], bool)


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "give a question, or --jsonl FILE"), ("  \t ", "please type a question")],
    ids=["empty", "whitespace"],
)
def test_an_empty_question_is_one_line_and_exit_2(
    question: str,
    message: str,
    assistant: Assistant,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # In process, with the session's assistant, to save a start-up: the code path from argv to
    # exit status is the console script's (tests/test_documents.py runs the real script to an
    # exit status of 2, and the subprocesses above cover the real start).
    monkeypatch.setattr(qa.assistant, "Assistant", lambda settings: assistant)
    assert cli.main(["ask", question]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == f"sanad: error: {message}\n"


def test_an_unusable_index_dir_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In process: the model is already loaded, and the failure comes after it, from the store.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("SANAD_INDEX_DIR", str(blocker / "indexes"))
    monkeypatch.delenv("SANAD_DOCUMENT", raising=False)
    assert cli.main(["ask", Q_EN]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert (
        out.err == f"sanad: error: cannot write the index in {blocker}/indexes: Not a directory\n"
    )
