#!/usr/bin/env bash
# Idempotent set-up: system packages, the Python 3.11 environment (.venv) and the Python 3.10
# environment for Rasa (.venv-rasa). Each environment carries a stamp of the hashes of its
# requirement files and interpreter; when nothing changed this takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(
  ffmpeg                                              # decoding voice messages
  tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-eng  # OCR backend
  espeak-ng sox                                       # generating the speech evaluation set
  fonts-noto-cjk                                      # rendering Chinese screenshots and pages
  chromium                                            # browser end-to-end tests
  postgresql redis-server rabbitmq-server nginx       # scale-out mode and its tests
  default-jre-headless                                # Java 17 for Spark (recommendations' ALS)
  # Go and the Go libraries of Helm's template engine: the offline renderer of the Helm chart
  # (deploy/helm/render), as no helm binary is packaged for Debian
  golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev
  golang-github-xeipuuv-gojsonschema-dev golang-github-burntsushi-toml-dev
)

say() { printf 'setup: %s\n' "$*" >&2; }

install_system_packages() {
  [ "${BOT_SKIP_SYSTEM_PACKAGES:-0}" = "1" ] && return
  local missing=() pkg
  for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return
  if ! command -v apt-get >/dev/null; then
    say "these system packages are missing and there is no apt-get to install them: ${missing[*]}"
    say "install them with your system's package manager, or set BOT_SKIP_SYSTEM_PACKAGES=1"
    exit 1
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  say "installing system packages: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Prints the path of an interpreter of the wanted minor version, or nothing.
find_python() {
  local minor=$1 override=$2 candidate
  if [ -n "$override" ]; then echo "$override"; return; fi
  local pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
  for candidate in "python$minor" "$pyenv_root"/versions/"$minor".*/bin/python /root/.pyenv/versions/"$minor".*/bin/python python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$minor" ]; then
      command -v "$candidate"
      return
    fi
  done
}

# make_env DIR STAMP_NAME PYTHON REQUIREMENT_FILE...
env_stamp() {  # env_stamp PYTHON REQUIREMENT_FILE...
  local python=$1; shift
  { "$python" --version 2>&1; sha256sum "$@"; } | sha256sum | cut -d' ' -f1
}

# env_is_current DIR STAMP_NAME PYTHON REQUIREMENT_FILE...
env_is_current() {
  local dir=$1 stamp_file=$1/$2 python=$3; shift 3
  [ -x "$dir/bin/python" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$(env_stamp "$python" "$@")" ]
}

make_env() {
  local dir=$1 stamp_name=$2 python=$3; shift 3
  local stamp
  env_is_current "$dir" "$stamp_name" "$python" "$@" && return
  stamp=$(env_stamp "$python" "$@")
  say "building $dir with $("$python" --version 2>&1) from $* (a few minutes when new)"
  [ -x "$dir/bin/python" ] || { rm -rf "$dir"; "$python" -m venv "$dir"; }
  local args=() file
  for file in "$@"; do args+=(-r "$file"); done
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}"
  echo "$stamp" > "$dir/$stamp_name"
  say "$dir is ready"
}

TEST=0
for arg in "$@"; do
  case $arg in
    --test) TEST=1 ;;  # also the test tools and the LLM test server
    *) say "unknown argument: $arg (usage: scripts/setup.sh [--test])"; exit 2 ;;
  esac
done

# What takes long on a fresh machine runs side by side: the system packages, the Rasa environment
# and (for tests) llama.cpp's compilation in the background, while the hub environment installs.
# The compilation keeps both cores for about 8 minutes and the rest is mostly downloads and
# unpacking, so overlapping them saves minutes of CI. Each background step writes its own log
# (var/setup-NAME.log), shown when it fails.
mkdir -p var
declare -A BACKGROUND=()
background_step() {  # background_step NAME COMMAND...
  local name=$1; shift
  ( "$@" > "var/setup-$name.log" 2>&1 ) &
  BACKGROUND[$name]=$!
}
wait_step() {  # wait_step NAME: waits for that step; fails with its log if it failed
  local name=$1 pid=${BACKGROUND[$1]:-}
  [ -n "$pid" ] || return 0
  unset "BACKGROUND[$name]"
  if ! wait "$pid"; then
    say "$name failed; its log (var/setup-$name.log):"
    cat "var/setup-$name.log" >&2
    return 1
  fi
  grep -h '^setup: ' "var/setup-$name.log" >&2 || true
}
wait_all() {
  local name failed=0
  for name in "${!BACKGROUND[@]}"; do wait_step "$name" || failed=1; done
  return $failed
}

background_step system-packages install_system_packages

PY311=$(find_python 3.11 "${BOT_PYTHON311:-}")
if [ -z "$PY311" ]; then
  say "Python 3.11 was not found (looked for python3.11, python3 and pyenv versions)."
  say "Install it (e.g. 'pyenv install 3.11') or point BOT_PYTHON311 at an interpreter."
  exit 1
fi
PY310=$(find_python 3.10 "${BOT_PYTHON310:-}")
if [ -z "$PY310" ]; then
  say "Python 3.10 was not found; Rasa 3.6 needs it (it does not install on 3.11)."
  say "Looked for python3.10 on PATH and \$PYENV_ROOT/versions/3.10.*."
  say "Install it with 'pyenv install 3.10.13' (or your system's python3.10 package),"
  say "or point BOT_PYTHON310 at a Python 3.10 interpreter."
  exit 1
fi

TEST_FILES=(requirements/hub.txt requirements/dev.txt requirements/llm.txt requirements/spark.txt)
if [ "$TEST" = "1" ] && ! env_is_current .venv .setup-stamp-test "$PY311" "${TEST_FILES[@]}"; then
  # llama-cpp-python compiles llama.cpp: portable CPU flags (the default -march=native build
  # crashed on these machines) and both cores. The multimodal library (llava/mtmd) is left out:
  # nothing here uses it, and it was 2.5 of the 10.7 minutes of a fresh build on this machine.
  # The wheel is built first, on its own (the interpreter's own pip, as .venv may not exist
  # yet), and installed before the rest of the test environment, which then finds it there.
  export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}"
  export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
  llama=$(grep -E '^llama-cpp-python==' requirements/llm.txt)
  rm -rf var/llama-wheel
  background_step llama-cpp "$PY311" -m pip wheel --quiet --disable-pip-version-check --no-deps \
    --wheel-dir var/llama-wheel "$llama"
fi
background_step rasa-env make_env .venv-rasa .setup-stamp "$PY310" requirements/rasa.lock.txt
make_env .venv .setup-stamp "$PY311" requirements/hub.txt
if [ "$TEST" = "1" ]; then
  if [ -n "${BACKGROUND[llama-cpp]:-}" ]; then
    wait_step llama-cpp
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps var/llama-wheel/*.whl
  fi
  make_env .venv .setup-stamp-test "$PY311" "${TEST_FILES[@]}"
fi
wait_all
# Rasa's own commands (rasa train, shell, interactive, data validate) load the custom components
# in bot/rasa_components from the project folder, wherever they run, and send no telemetry.
site_packages=$(.venv-rasa/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
[ "$(cat "$site_packages/cs_assistant.pth" 2>/dev/null)" = "$PWD" ] || echo "$PWD" > "$site_packages/cs_assistant.pth"
if ! grep -qs "enabled: false" "$HOME/.config/rasa/global.yml"; then
  RASA_TELEMETRY_ENABLED=false .venv-rasa/bin/rasa telemetry disable >/dev/null 2>&1 ||
    say "could not switch Rasa's telemetry off; set RASA_TELEMETRY_ENABLED=false for rasa commands"
fi
