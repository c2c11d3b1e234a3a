#!/usr/bin/env bash
# Create .venv with everything delaykit, its tests and its demos need. Idempotent: a second
# run only checks. Usage: bash scripts/setup.sh   (VENV=path to choose another folder)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
stamp="$VENV/.delaykit-setup"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VENV/bin/python" -c "import delaykit, torch, DCLS" 2>/dev/null; then
  exit 0
fi
echo "delaykit setup: creating $VENV (a few minutes the first time)" >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
# torch: the 2.13.0 CPU wheel; newer ranges pull a multi-GB CUDA build here.
pip install "torch==2.13.0"
# spikingjelly and norse declare torchvision/torchaudio, which do not import beside this torch;
# their cores need only what the 'train'/'export' extras bring, so install them without deps.
pip install --no-deps "spikingjelly==2.0.0" "norse==1.1.0" "nirtorch==2.6"
pip install -e ".[train,export,distributed,dev]"
# espeak-ng speaks the spoken-digit set; optional, installed where we are root.
if ! command -v espeak-ng >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null) \
    || echo "delaykit setup: espeak-ng not installed; 'delaykit data spoken-digits' will say so" >&2
fi
echo "$want" > "$stamp"
