#!/usr/bin/env bash
# Re-lock the Rasa environment: resolve requirements/rasa.in in a fresh Python 3.10 virtual
# environment and write what pip installed to requirements/rasa.lock.txt. pip-compile cannot
# resolve Rasa 3.6's pins on its own (it needs the 3.10 interpreter pip installs them with).
# Usage: scripts/lock-rasa.sh [OUTPUT]   (default requirements/rasa.lock.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
output=${1:-requirements/rasa.lock.txt}
PY310=${BOT_PYTHON310:-$(ls "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10.*/bin/python 2>/dev/null | head -1)}
if [ -z "$PY310" ]; then
  echo "lock-rasa: no Python 3.10 found; set BOT_PYTHON310 to its interpreter" >&2
  exit 1
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$PY310" -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements/rasa.in
{
  echo "# Locked from requirements/rasa.in by scripts/lock-rasa.sh (make lock); do not edit."
  "$scratch/venv/bin/python" -m pip freeze --exclude-editable | LC_ALL=C sort -f
} > "$output"
echo "lock-rasa: wrote $output" >&2
