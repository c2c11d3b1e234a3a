#!/usr/bin/env bash
# Set up (scripts/setup.sh), run the static checks (scripts/lint.sh: ruff, ruff format, the import
# contract, mypy) and the whole test suite. Extra arguments go to pytest, e.g.
# `bash scripts/test.sh -m "not slow"` to skip the slow end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Brian2 for the simulator cross-check (slow tests); the suite still runs if this fails.
if bash scripts/setup_brian2.sh; then
  export DELAYKIT_BRIAN2_PYTHON=${DELAYKIT_BRIAN2_PYTHON:-$PWD/.venv-brian2/bin/python}
fi
# NEST 3.10 + PyNN 0.13 for the PyNN export check (slow tests); non-fatal like Brian2's.
if bash scripts/setup_pynn.sh; then
  export DELAYKIT_PYNN_PYTHON=${DELAYKIT_PYNN_PYTHON:-$PWD/.venv-pynn/bin/python}
fi
# xylosim (SynSense's Xylo simulator, built from source) for the Xylo core cross-check; non-fatal.
if bash scripts/setup_xylo.sh; then
  export DELAYKIT_XYLO_PYTHON=${DELAYKIT_XYLO_PYTHON:-$PWD/.venv-xylo/bin/python}
fi
# One venv per NIR tool (spikingjelly, norse, snntorch, sinabs, rockpool, spyx) for
# tests/convert/test_nir_tools.py; non-fatal: a tool that does not install is skipped.
bash scripts/setup_nir_tools.sh || echo "scripts/test.sh: no NIR tool environment; tests/convert/test_nir_tools.py will skip" >&2
# Lava for the Loihi 2 netx check (slow test; skipped when absent): bash scripts/setup_lava.sh
if [ -x .venv-lava/bin/python ]; then export DELAYKIT_LAVA_PYTHON=${DELAYKIT_LAVA_PYTHON:-$PWD/.venv-lava/bin/python}; fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
set +e
bash scripts/lint.sh
lint_rc=$?
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "scripts/test.sh: pytest collected no tests; that is a failure here" >&2
  exit 1
fi
if [ "$lint_rc" != 0 ] && [ "$rc" = 0 ]; then
  echo "scripts/test.sh: the tests passed but scripts/lint.sh failed (see above)" >&2
  exit 1
fi
exit "$rc"
