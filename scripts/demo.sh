#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job end to end on the embedded delay task:
# synthesize -> train -> convert -> event-driven simulation -> accuracy table.
# Extra arguments go to `delaykit demo` (see `.venv/bin/delaykit demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
exec .venv/bin/delaykit demo "$@"
