#!/usr/bin/env bash
# Static checks that scripts/test.sh (the README's test command, so CI) runs before pytest: ruff lint and format, the import
# contract (layers), and mypy on the torch-free packages. Usage: bash scripts/lint.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
rc=0
step() {
  local name=$1; shift
  if "$@"; then echo "lint: $name ok"; else echo "lint: $name FAILED" >&2; rc=1; fi
}
step "ruff check" "$PY" -m ruff check --quiet .
step "ruff format --check" "$PY" -m ruff format --check --quiet .
step "import contract" "$PY" scripts/check_layers.py .
step "mypy" "$PY" -m mypy --no-error-summary
exit "$rc"
