#!/usr/bin/env bash
# A separate environment with Brian2, for the cross-check of delaykit's simulator against a
# simulator nobody here wrote (sim/brian2_check.py). Brian2 2.9.0 needs numpy < 2.4, which
# is why it does not share delaykit's .venv. Usage: bash scripts/setup_brian2.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-brian2}
if "$VENV/bin/python" -c "import brian2" 2>/dev/null; then exit 0; fi
echo "delaykit setup: creating $VENV with Brian2 (about a minute)" >&2
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip --disable-pip-version-check -q install "brian2==2.9.0" "numpy<2.4" h5py
