"""``python -m index build|info``: build (or verify) the index, and describe it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import (
    ConfigError,
    DocumentError,
    EmbeddingModelError,
    IndexStoreError,
    Settings,
    load_index,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m index", description=__doc__)
    parser.add_argument("command", choices=["build", "info"])
    parser.add_argument("--document", type=Path, help="a UTF-8 article (default: the packaged one)")
    parser.add_argument("--embedding-model", help="sentence-transformers name or path")
    parser.add_argument("--rebuild", action="store_true", help="build even if a valid index exists")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(document=args.document, embedding_model=args.embedding_model)
        idx = load_index(settings, rebuild=args.command == "build" and args.rebuild)
    except (ConfigError, DocumentError, EmbeddingModelError, IndexStoreError, OSError) as e:
        # One line, as everywhere in sanad: these are the user's to fix, not bugs.
        print(f"sanad: error: {(str(e).splitlines() or [type(e).__name__])[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if args.command == "build":
        print(f"index ready: {idx.path} ({len(idx.chunks)} chunks, {len(idx.units)} units)")
    else:
        # Everything the manifest records, per-file SHA-256s included, so a person can check
        # by hand (sha256sum) what sanad checks on every load.
        info = {
            "path": str(idx.path),
            "document": idx.document.name,
            "characters": len(idx.document.text),
            "chunks": len(idx.chunks),
            "units": len(idx.units),
            **idx.manifest,
        }
        print(json.dumps(info, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
