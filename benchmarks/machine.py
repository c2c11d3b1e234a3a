"""Where a benchmark ran: CPU model, vector extensions, clock, cores, threads and load.

Every benchmark prints :func:`describe` first, so its figures can be read against the machine
(machines here differ: Intel with AVX-512/AMX, AMD with AVX2 only). Linux /proc only; elsewhere
the fields say "unknown".
"""

from __future__ import annotations

import os
import sys

from delaykit.train.cpu import cpu_flags, cpuinfo_field  # torch-free

#: extensions that decide which kernels are fast, in the order they are printed
EXTENSIONS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def clock_ghz() -> float | None:
    """The current clock of CPU 0 in GHz as /proc reports it (None when unknown)."""
    mhz = cpuinfo_field("cpu MHz")
    try:
        return float(mhz) / 1000.0
    except ValueError:
        return None


def thread_settings() -> dict[str, str]:
    """Thread counts that shape the figures: OMP/MKL env, torch and numba when imported."""
    out = {k: os.environ.get(k, "unset") for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "NUMBA_NUM_THREADS")}
    if "torch" in sys.modules:
        out["torch.threads"] = str(sys.modules["torch"].get_num_threads())
        cap = getattr(sys.modules["torch"].backends.cpu, "get_cpu_capability", None)
        out["torch.cpu_capability"] = cap() if cap else "unknown"
    if "numba" in sys.modules:
        out["numba.threads"] = str(sys.modules["numba"].get_num_threads())
    return out


def describe() -> str:
    """Lines describing this machine for a benchmark's header."""
    flags = cpu_flags()
    ext = [e for e in EXTENSIONS if e in flags]
    ghz = clock_ghz()
    load = os.getloadavg()
    lines = [
        f"cpu: {cpuinfo_field('model name')}, {os.cpu_count()} logical cores, "
        f"clock {'unknown' if ghz is None else f'{ghz:.2f} GHz'}",
        f"vector extensions: {' '.join(ext) or 'none of ' + '/'.join(EXTENSIONS)}"
        f"{'' if 'avx512f' in flags else ' (no AVX-512)'}{'' if 'amx_bf16' in flags else ' (no AMX)'}",
        "threads: " + ", ".join(f"{k}={v}" for k, v in thread_settings().items()),
        f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
