"""``sanad``: qa's commands (ask, chat, eval) plus ``serve`` and ``feedback export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qa import cli as qa_cli

from .feedback import FeedbackError, store_for


def build_parser() -> argparse.ArgumentParser:
    parser = qa_cli.build_parser()
    # argparse has no public way back to the subparsers of a built parser.
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve = commands.add_parser(
        "serve",
        help="the web chat and HTTP API",
        description="Serve the chat at / and the HTTP API at /api (docs at /docs).",
        epilog="Secrets come from the environment only, so they never show in ps: "
        "SANAD_API_TOKEN (a bearer token) and SANAD_UI_AUTH (user:password for the chat's "
        "login); either one guards every route that answers. SANAD_RATE_LIMIT_PER_MINUTE, "
        "SANAD_MAX_CONCURRENCY, SANAD_MAX_QUEUE and SANAD_MAX_CONNECTIONS bound the load; "
        "SANAD_LLM_CHOICES lists the answer backends the chat offers.",
    )
    serve.add_argument("--host", help="address to listen on (default: SANAD_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: SANAD_PORT or 7860)")
    serve.add_argument(
        "--insecure-public",
        action="store_true",
        help="serve a non-loopback address without SANAD_API_TOKEN or SANAD_UI_AUTH "
        "(otherwise refused): anyone who can reach it can use it",
    )
    qa_cli.add_settings_flags(serve)
    feedback = commands.add_parser(
        "feedback",
        help="what chat readers said about answers",
        description="The thumbs up/down and comments the chat stored (SANAD_FEEDBACK_DB, "
        "default: feedback.sqlite in the cache dir).",
    )
    actions = feedback.add_subparsers(dest="feedback_command", required=True)
    export = actions.add_parser(
        "export",
        help="write every verdict as JSON lines",
        description="Write every stored verdict as one JSON object a line: id, time, verdict "
        "(up or down), question, answer, sources (the passages, cited or not), comment, "
        "language, backend, document.",
    )
    export.add_argument(
        "-o", "--output", type=Path, help="write to this file (default: standard output)"
    )
    return parser


def _export_feedback(args: argparse.Namespace) -> int:
    store = store_for(qa_cli.settings_from(args))
    if args.output is None:
        n = store.export(sys.stdout)
    else:
        # Written beside the target and moved into place: a failed export leaves no half file.
        partial = args.output.with_name(f".{args.output.name}.partial")
        with partial.open("w", encoding="utf-8") as out:
            n = store.export(out)
        partial.replace(args.output)
    print(f"sanad: {n} feedback rows exported", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "feedback":
        try:
            return _export_feedback(args)
        except (*qa_cli.USER_ERRORS, FeedbackError) as e:
            print(
                f"sanad: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                file=sys.stderr,
            )
            return 2
    if args.command != "serve":
        return qa_cli.run(args)
    from .server import serve

    try:
        settings = qa_cli.settings_from(args).replace(
            host=args.host, port=args.port, insecure_public=args.insecure_public or None
        )
        serve(settings)
    except qa_cli.USER_ERRORS as e:
        print(f"sanad: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
