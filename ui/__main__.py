"""``python -m ui [--host H] [--port P] …``: the same as ``sanad serve``."""

import sys

from .cli import main

raise SystemExit(main(["serve", *sys.argv[1:]]))
