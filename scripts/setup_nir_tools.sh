#!/usr/bin/env bash
# One environment per NIR consumer, for the interop checks in both directions
# (tests/convert/test_nir_tools.py, delaykit/convert/nir_tools.py): .venv-nir-<tool> for spikingjelly,
# norse, snntorch, sinabs, rockpool and spyx. Each tool in its own venv because their pins
# clash (sinabs and rockpool want nir <= 1.0.4, so nirtorch 2.0, the last that accepts it;
# spyx wants JAX). Idempotent: a stamp file per
# venv marks a finished install; a tool that does not install is reported and skipped, and the
# script still exits 0 when at least one tool works.
# Usage: bash scripts/setup_nir_tools.sh [TOOL ...]   (default: all six)
set -uo pipefail
cd "$(dirname "$0")/.."
TOOLS=("$@")
[ ${#TOOLS[@]} -gt 0 ] || TOOLS=(spikingjelly norse snntorch sinabs rockpool spyx)
# torch 2.13.0 is the CPU wheel on disk; a bare "torch" or a newer range pulls a CUDA build.
TORCH="torch==2.13.0"

packages() {  # the pip arguments of one tool, then a line with its --no-deps packages
  case "$1" in
    spikingjelly) echo "$TORCH nir==1.0.8 nirtorch==2.6 numpy h5py loguru packaging"
                  echo "spikingjelly==2.0.0" ;;
    norse)        echo "$TORCH nir==1.0.8 nirtorch==2.6 numpy h5py"
                  echo "norse==1.1.0" ;;
    snntorch)     echo "$TORCH nir==1.0.8 nirtorch==2.6 numpy h5py pandas matplotlib"
                  echo "snntorch==1.0.0" ;;
    sinabs)       echo "$TORCH nir==1.0.4 nirtorch==2.0 numpy h5py pbr matplotlib"
                  echo "sinabs==3.1.3" ;;
    rockpool)     echo "$TORCH nir==1.0.4 nirtorch==2.0 numpy h5py scipy"
                  echo "rockpool==3.1.0" ;;
    spyx)         echo "nir==1.0.8 numpy h5py jax jaxlib flax optax grain jax-tqdm"
                  echo "spyx==1.0.0" ;;
    *) return 1 ;;
  esac
}

# The five torch tools share one torch (the 2.13.0 wheel is ~900 MB unpacked; installing it
# once instead of five times is most of this script's time): .venv-nir-torch holds it and each
# tool venv sees it through a .pth file; pip then finds torch==2.13.0 already satisfied.
BASE=.venv-nir-torch

torch_base() {
  local stamp="$BASE/.delaykit-nir-ok"
  if [ -f "$stamp" ] && "$BASE/bin/python" -c "import torch" >/dev/null 2>&1; then return 0; fi
  echo "delaykit setup: creating $BASE (torch 2.13.0, shared by the NIR tool environments)" >&2
  python3 -m venv "$BASE" || return 1
  "$BASE/bin/python" -m pip --disable-pip-version-check -q install "$TORCH" numpy || return 1
  touch "$stamp"
}

link_torch() {  # $1: a tool venv that should see the shared torch
  local sp tp
  sp=$("$BASE/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') || return 1
  tp=$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') || return 1
  (cd "$sp" && pwd) > "$tp/_delaykit_nir_torch.pth"
}

import_check() {  # what must import for the tool to count as installed
  case "$1" in
    spikingjelly) echo "import spikingjelly.activation_based.nir_exchange" ;;
    norse)        echo "import norse.torch" ;;
    snntorch)     echo "import snntorch.import_nir, snntorch.export_nir" ;;
    sinabs)       echo "import sinabs" ;;
    rockpool)     echo "import rockpool.nn.modules; from rockpool.nn.modules import from_nir" ;;
    spyx)         echo "import spyx.nir" ;;
  esac
}

install_tool() {
  local tool=$1 venv=.venv-nir-$1
  local stamp="$venv/.delaykit-nir-ok" check deps nodeps
  check=$(import_check "$tool")
  if [ -f "$stamp" ] && "$venv/bin/python" -c "$check" >/dev/null 2>&1; then return 0; fi
  deps=$(packages "$tool" | sed -n 1p)
  nodeps=$(packages "$tool" | sed -n 2p)
  echo "delaykit setup: creating $venv ($nodeps)" >&2
  if [ "$tool" != spyx ]; then torch_base || return 1; fi
  python3 -m venv "$venv" || return 1
  if [ "$tool" != spyx ]; then link_torch "$venv" || return 1; fi
  local pip=("$venv/bin/python" -m pip --disable-pip-version-check -q install)
  # shellcheck disable=SC2086
  "${pip[@]}" $deps || return 1
  # shellcheck disable=SC2086
  "${pip[@]}" --no-deps $nodeps || return 1
  "$venv/bin/python" -c "$check" || return 1
  touch "$stamp"
}

ok=0
for tool in "${TOOLS[@]}"; do
  if install_tool "$tool"; then
    ok=$((ok + 1))
  else
    echo "delaykit setup: $tool did not install; its NIR checks will be skipped" >&2
  fi
done
[ "$ok" -gt 0 ]
