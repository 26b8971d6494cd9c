"""``sanad ask | chat | eval | documents``: the assistant from the command line.

Every flag lands on the one ``Settings`` object (flags over ``SANAD_*`` variables over defaults).
Errors a user can fix print one line and exit non-zero; they never show a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from index import (
    ConfigError,
    DocumentError,
    EmbeddingModelError,
    IndexStoreError,
    Settings,
)

from .errors import QuestionError

#: What a user can cause and fix; anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    DocumentError,
    EmbeddingModelError,
    IndexStoreError,
    QuestionError,
    OSError,
)


def add_settings_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--document", type=Path, help="a UTF-8 text or Markdown article (default: the packaged one)"
    )
    p.add_argument("--embedding-model", help="sentence-transformers name or path")
    p.add_argument(
        "--llm",
        help="answer backend: extractive (default), openai:MODEL, ollama:MODEL, llamacpp:PATH",
    )
    p.add_argument("--top-k", type=int, help="number of sources per answer")


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        document=getattr(args, "document", None),
        embedding_model=getattr(args, "embedding_model", None),
        llm=getattr(args, "llm", None),
        top_k=getattr(args, "top_k", None),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sanad",
        description="Ask an Arabic news article questions in Arabic or English; "
        "answers quote and cite it.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="answer one question, or a JSONL file of them")
    ask.add_argument("question", nargs="?", help="the question")
    ask.add_argument("--json", action="store_true", help="print the full answer as JSON")
    ask.add_argument(
        "--jsonl",
        type=Path,
        metavar="FILE",
        help='one {"question", "history"} per line in; one answer JSON per line out',
    )
    add_settings_flags(ask)

    chat = sub.add_parser("chat", help="a conversation in the terminal")
    add_settings_flags(chat)

    ev = sub.add_parser("eval", help="score the pipeline on a question file (dev.jsonl format)")
    ev.add_argument("file", type=Path)
    ev.add_argument("--json", type=Path, metavar="OUT", help="write per-question rows (JSONL)")
    add_settings_flags(ev)

    docs = sub.add_parser(
        "documents", help="the articles added to this machine's sanad (the chat's list)"
    )
    actions = docs.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add an article from a .txt, .md or .html file")
    add.add_argument("file", type=Path)
    add.add_argument("--name", help="what to call it (default: the file's name)")
    listing = actions.add_parser("list", help="the articles, the default first")
    listing.add_argument("--json", action="store_true", help="one JSON object per article")
    return parser


def _print_answer(a: Any) -> None:
    print(a.answer)
    for n, s in enumerate(a.sources, 1):
        print(f"  [{n}] {s.text[:160]}{'…' if len(s.text) > 160 else ''}")


def _ask(args: argparse.Namespace, bot: Any) -> int:
    if args.jsonl is None:
        a = bot.ask(args.question)
        if args.json:
            print(json.dumps(a.to_dict(), ensure_ascii=False, indent=2))
        else:
            _print_answer(a)
        return 0
    status = 0
    with args.jsonl.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise QuestionError("each line must be a JSON object")
                out = bot.ask(item.get("question"), item.get("history")).to_dict()
            except (json.JSONDecodeError, QuestionError) as e:
                # One bad line must not cost the answers to the others.
                out, status = {"line": n, "error": str(e).splitlines()[0]}, 1
            print(json.dumps(out, ensure_ascii=False), flush=True)
    return status


def _chat(bot: Any) -> int:
    history: list[dict[str, str]] = []
    print(f"sanad: ask about {bot.document.name}. Empty line or Ctrl-D to quit.")
    while True:
        try:
            question = input("> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not question:
            return 0
        try:
            answer = None
            for item in bot.stream(question, history):
                if isinstance(item, str):
                    print(item, end="", flush=True)
                else:
                    answer = item
            print()
        except QuestionError as e:
            print(f"sanad: {e}")
            continue
        assert answer is not None
        for n, s in enumerate(answer.sources, 1):
            print(f"  [{n}] {s.text[:160]}{'…' if len(s.text) > 160 else ''}")
        history += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer.answer},
        ]


def _eval(args: argparse.Namespace, bot: Any) -> int:
    from .evaluation import load_questions, run, summarise, write_rows

    rows = run(bot, load_questions(args.file))
    print(summarise(rows))
    if args.json:
        write_rows(rows, args.json)
    return 0


def _documents(args: argparse.Namespace, settings: Settings) -> int:
    from .documents import Documents

    documents = Documents(settings)
    if args.action == "add":
        with args.file.open("rb") as f:
            # One byte over the limit is enough for the registry to refuse it.
            data = f.read(settings.max_document_bytes + 1)
        info = documents.add(data, args.name or args.file.name)
        print(f"{info.id}  {info.title} ({info.chars:,} characters, {info.chunks} passages)")
        return 0
    for info in documents.list():
        if args.json:
            print(json.dumps(info.to_dict(), ensure_ascii=False))
        else:
            print(f"{info.id}  {info.chars:>9,}  {'(default) ' * info.default}{info.title}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run a parsed qa command; user errors become one line on stderr and exit status 2."""
    from .assistant import Assistant

    try:
        if args.command == "ask" and not args.question and args.jsonl is None:
            raise QuestionError("give a question, or --jsonl FILE")
        if args.command == "documents":
            return _documents(args, settings_from(args))
        bot = Assistant(settings_from(args))
        if args.command == "ask":
            return _ask(args, bot)
        if args.command == "chat":
            return _chat(bot)
        return _eval(args, bot)
    except USER_ERRORS as e:
        print(
            f"sanad: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
            file=sys.stderr,
        )
        return 2


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
