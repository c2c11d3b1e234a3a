#!/usr/bin/env bash
# xylosim (SynSense's bit-accurate C++ simulator of the Xylo core, the back end of rockpool's
# XyloSim) for the cross-check of hardware_targets/xylo_core.py (tests/targets/test_xylo_core.py).
# xylosim builds from its sdist (pybind11 + a C++ compiler, under a minute) and lives in its own
# environment so that delaykit's .venv stays free of it. Idempotent: a stamp file records the
# pinned versions; a second run with the same pins exits at once.
# Usage: bash scripts/setup_xylo.sh [VENV]   (default .venv-xylo)
# Then: DELAYKIT_XYLO_PYTHON=.venv-xylo/bin/python .venv/bin/pytest tests/targets/test_xylo_core.py
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-xylo}
PINS="xylosim==0.1.3 numpy<2.4"
STAMP="$VENV/.delaykit-xylo-stamp"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PINS" ] \
  && "$VENV/bin/python" -c "import numpy, xylosim.v2" 2>/dev/null; then
  exit 0
fi
PY311=${PYTHON311:-}
if [ -z "$PY311" ]; then
  for c in python3.11 /root/.pyenv/versions/3.11.7/bin/python python3; do
    if "$c" -c "import sys; assert sys.version_info[:2] == (3, 11)" 2>/dev/null; then PY311=$c; break; fi
  done
fi
[ -n "$PY311" ] || { echo "setup_xylo: needs Python 3.11 (set PYTHON311=/path/to/python3.11)" >&2; exit 2; }
echo "delaykit setup: creating $VENV with xylosim (about a minute, builds from source)" >&2
rm -f "$STAMP"
"$PY311" -m venv "$VENV"
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip --disable-pip-version-check -q install $PINS
"$VENV/bin/python" -c "import numpy, xylosim.v2"
echo "$PINS" >"$STAMP"
