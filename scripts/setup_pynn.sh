#!/usr/bin/env bash
# A separate environment with NEST 3.10 and PyNN 0.13, for the check that the PyNN export of
# `delaykit convert to-pynn` (and the same tables run directly in NEST) gives delaykit's spikes
# (tests/convert/test_pynn_export.py, benchmarks/bench_pynn.py). Idempotent: a stamp file marks a
# finished install. Usage: bash scripts/setup_pynn.sh [VENV]   (default .venv-pynn)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-pynn}
STAMP="$VENV/.delaykit-pynn-ok"
if [ -f "$STAMP" ] && "$VENV/bin/python" -c "import nest, pyNN.nest, h5py" >/dev/null 2>&1; then exit 0; fi
echo "delaykit setup: creating $VENV with NEST 3.10 and PyNN 0.13 (about 35 s)" >&2
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip --disable-pip-version-check -q install \
  "nest-simulator==3.10.0" "pynn==0.13.0" numpy h5py
"$VENV/bin/python" -c "import nest, pyNN.nest, h5py" >/dev/null 2>&1
touch "$STAMP"
