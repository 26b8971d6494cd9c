#!/usr/bin/env bash
# Set up sanad, then serve the chat on http://127.0.0.1:7860 (offline, no API key).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/sanad serve "$@"
