"""delaykit's own results for a table directory, computed in a subprocess so that the
files-only reader's test never imports delaykit's simulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

#: delaykit's float64 simulation of a table directory on frames (.npz) or a test file (.h5)
_DELAYKIT_RUN = """
import sys
import numpy as np
from delaykit.data.shd import BinSpec, SHDFile
from delaykit.sim import Arithmetic, simulate
from delaykit.tables import read_tables
table_dir, src, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
net = read_tables(table_dir)
if src.endswith(".npz"):
    frames = list(np.load(src)["frames"][:n])
else:
    spec = BinSpec(dt=net.dt, channel_group=net.input.channel_group, window_steps=net.input.window_steps)
    with SHDFile(src, spec) as ds:
        frames = [ds[i][0] for i in range(n)]
rs = [simulate(net, f, engine="event", arithmetic=Arithmetic.float64()) for f in frames]
spikes = {f"spikes_{k}": np.stack([r.spikes[k] for r in rs]) for k in range(len(rs[0].spikes))}
np.savez(out, frames=np.stack(frames), output=np.stack([r.output for r in rs]),
         predictions=np.array([r.prediction for r in rs]), **spikes)
"""


def delaykit_results(table_dir: Path, source: Path, n: int, out: Path) -> dict[str, np.ndarray]:
    """delaykit's spikes (per LIF layer, in order), readout output and predictions, from a
    subprocess."""
    proc = subprocess.run(
        [sys.executable, "-c", _DELAYKIT_RUN, str(table_dir), str(source), str(n), str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with np.load(out) as z:
        return {k: z[k] for k in z.files}
