#!/usr/bin/env bash
# Lava (Intel's Loihi SDK) for the netx cross-check of `delaykit convert to-netx`
# (tests/convert/test_convert_netx.py, convert/lava_check.py). lava-nc 0.10.0 / lava-dl 0.6.0 need
# Python 3.10 and bring a CUDA torch (about 5.6 GB), so they live in their own environment and
# CI leaves this check out. Usage: bash scripts/setup_lava.sh [VENV]   (default .venv-lava)
# Then: DELAYKIT_LAVA_PYTHON=.venv-lava/bin/python .venv/bin/pytest -m slow tests/convert/test_convert_netx.py
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-lava}
PY310=${PYTHON310:-}
if [ -z "$PY310" ]; then
  for c in /root/.pyenv/versions/3.10.13/bin/python python3.10; do
    if "$c" -c "import sys; assert sys.version_info[:2] == (3, 10)" 2>/dev/null; then PY310=$c; break; fi
  done
fi
if "$VENV/bin/python" -c "import lava.lib.dl.netx" 2>/dev/null; then exit 0; fi
[ -n "$PY310" ] || { echo "setup_lava: needs Python 3.10 (set PYTHON310=/path/to/python3.10)" >&2; exit 2; }
"$PY310" -m venv "$VENV"
"$VENV/bin/python" -m pip --disable-pip-version-check -q install "lava-nc==0.10.0" "lava-dl==0.6.0"
