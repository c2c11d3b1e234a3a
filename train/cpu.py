"""What the CPU computes fast, and the training settings that follow from it.

* bf16: autocast to bfloat16 only pays where the CPU has bf16 arithmetic (AVX512_BF16 or AMX
  tiles). Elsewhere oneDNN emulates it: on a 2-core AMD EPYC with AVX2 a training step ran
  ~14x slower than in float32. :func:`resolve_bf16` turns a request into float32 with one
  warning there.
* threads: OpenMP threads spin-wait between parallel regions by default. On a machine whose
  cores are shared with other jobs, a spinning thread holds a core that the thread it waits for
  needs. :func:`passive_wait_env` is the environment that makes them sleep instead; it must be
  in place before torch starts its OpenMP runtime (``delaykit train`` sets it, see
  ``docs/design.md``, "Training speed").
* memory: :func:`keep_freed_memory` keeps glibc from unmapping the step's large temporaries.

torch is imported inside the functions that need it, so that the CLI can set the OpenMP
environment before torch starts.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

#: /proc/cpuinfo flags that mean native bf16 arithmetic
BF16_FLAGS: tuple[str, ...] = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where unreadable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpuinfo_field(name: str) -> str:
    """A field of CPU 0 in /proc/cpuinfo, e.g. "model name" ("unknown" where unreadable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == name:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("unknown" where unreadable)."""
    return cpuinfo_field("model name")


def native_bf16() -> bool:
    """True when this CPU computes bf16 natively (torch's probe, else the cpuinfo flags)."""
    import torch

    probes = [getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(p is not None and p() for p in probes):
        return True
    return bool(cpu_flags() & set(BF16_FLAGS))


def resolve_bf16(requested: bool, device: Any = "cpu") -> bool:
    """Whether to autocast the training convolutions to bf16 (``train.bf16``).

    On a CPU without native bf16 a request gives one warning and False (float32); on other
    devices the request stands. ``device``: a torch device or its name.
    """
    import torch

    if not requested:
        return False
    if torch.device(device).type != "cpu" or native_bf16():
        return True
    warnings.warn(
        f"train.bf16=true: this CPU ({cpu_model()}, torch capability "
        f"{torch.backends.cpu.get_cpu_capability()}) has no native bf16 (no AVX512_BF16, no AMX); "
        "bf16 autocast would run about 14x slower than float32 here, so training runs in float32",
        RuntimeWarning,
        stacklevel=2,
    )
    return False


#: glibc mallopt parameters and the values :func:`keep_freed_memory` sets (bytes)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's largest allowed mmap threshold on 64-bit
TRIM_THRESHOLD_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Let glibc keep freed memory for reuse instead of unmapping it (Linux/glibc; else a no-op).

    A training step allocates and frees the same tensors of 1-32 MiB every step; by default
    glibc maps each anew, and the fresh pages fault in again (measured: a 36 MiB product took
    200 ms with its output allocated, 137 ms into a kept buffer). Returns whether it applied.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None or "libc.so" not in name:
        return False
    try:
        libc = ctypes.CDLL(name)
        ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
        return bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and ok)
    except (OSError, AttributeError):
        return False


def passive_wait_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The OpenMP wait settings for shared cores, without overriding what the user set."""
    env = os.environ if environ is None else environ
    out = {}
    if "OMP_WAIT_POLICY" not in env:
        out["OMP_WAIT_POLICY"] = "PASSIVE"
    return out


__all__ = [
    "BF16_FLAGS",
    "cpu_flags",
    "cpu_model",
    "cpuinfo_field",
    "keep_freed_memory",
    "native_bf16",
    "passive_wait_env",
    "resolve_bf16",
]
