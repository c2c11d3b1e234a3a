"""Time 'delaykit convert' on the paper's SHD-size model (140 -> 256 -> 256 -> 20, K = 25).

A delaykit checkpoint with real ``Dcls1d`` tensors (positions spread over all 25 delays,
BatchNorm statistics) is written once; then, after every import is done, each export is timed
end to end as the CLI does it: ``torch.load`` + BN folding + delay rounding + writing the file.

Target: ``to-nir`` under 2 s after imports. Baseline, measured in the same run:
the same network saved as delaykit's own ``.dkn`` (HDF5, gzip) -- the cheapest lossless
export -- so the ratios say what each format costs on top of it.

Usage::

    .venv/bin/python benchmarks/bench_convert.py [--repeats 3] [--sizes 140,256,256,20] [--kernel 25]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import machine  # benchmarks/machine.py: where the figures were measured
import numpy as np


def make_checkpoint(path: Path, sizes: list[int], k: int, seed: int = 0) -> None:
    import torch
    from DCLS.construct.modules import Dcls1d

    rng = np.random.default_rng(seed)
    sd = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        m = Dcls1d(n_in, n_out, kernel_count=1, dilated_kernel_size=k, bias=False, version="gauss")
        with torch.no_grad():
            m.P.uniform_(-(k // 2), k // 2)
        for key, v in m.state_dict().items():
            sd[f"layers.{i}.{key}"] = v
        if i < len(sizes) - 2:
            sd[f"bn.{i}.weight"] = torch.ones(n_out)
            sd[f"bn.{i}.bias"] = torch.as_tensor(rng.normal(0, 0.1, n_out), dtype=torch.float32)
            sd[f"bn.{i}.running_mean"] = torch.as_tensor(rng.normal(0, 0.1, n_out), dtype=torch.float32)
            sd[f"bn.{i}.running_var"] = torch.ones(n_out)
            sd[f"bn.{i}.num_batches_tracked"] = torch.tensor(1)
    torch.save(
        {
            "format": "delaykit.checkpoint",
            "format_version": 1,
            "arch": {
                "model": "learned",
                "n_inputs": sizes[0],
                "hidden": sizes[1:-1],
                "n_classes": sizes[-1],
                "kernel_size": k,
                "tau_steps": 1.005,
                "v_threshold": 1.0,
                "v_reset": 0.0,
                "readout_tau_steps": 1.005,
                "batchnorm": True,
                "bn_eps": 1e-5,
                "dt": 0.01,
                "n_units": 700,
                "channel_group": 5,
                "window_steps": 140,
                "readout": "softmax_sum",
            },
            "state_dict": sd,
            "metrics": {},
            "class_names": [],
            "config": {},
            "versions": {},
        },
        path,
    )


def main() -> None:
    print(machine.describe(), flush=True)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="140,256,256,20")
    ap.add_argument("--kernel", type=int, default=25)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    # every import before timing
    import nir  # noqa: F401
    import onnx  # noqa: F401
    import pyarrow  # noqa: F401
    import torch  # noqa: F401

    from delaykit.convert.build import convert_checkpoint
    from delaykit.convert.netx_export import write_netx
    from delaykit.convert.onnx_export import write_onnx
    from delaykit.network import save_network
    from delaykit.nir.export_nir import write_nir
    from delaykit.tables import write_tables

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ck = tmp / "model.pt"
        make_checkpoint(ck, sizes, args.kernel)
        jobs = {
            ".dkn (baseline)": lambda: save_network(convert_checkpoint(ck), tmp / "m.dkn"),
            "to-nir": lambda: write_nir(convert_checkpoint(ck), tmp / "m.nir"),
            "to-table (csv+parquet+npz)": lambda: write_tables(convert_checkpoint(ck), tmp / "t"),
            "to-onnx": lambda: write_onnx(convert_checkpoint(ck), tmp / "m.onnx"),
            "to-netx (loihi2, 8-bit)": lambda: write_netx(
                convert_checkpoint(ck, target="loihi2"), tmp / "m.h5"
            ),
        }
        times: dict[str, float] = {}
        for name, job in jobs.items():
            runs = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                job()
                runs.append(time.perf_counter() - t0)
            times[name] = statistics.median(runs)
        base = times[".dkn (baseline)"]
        n_syn = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
        print(
            f"model {'->'.join(map(str, sizes))}, K={args.kernel}, {n_syn:,} synapses; median of {args.repeats}"
        )
        for name, t in times.items():
            print(f"  {name:<28} {t:6.3f} s   x{t / base:5.2f} of .dkn")
        verdict = "OK" if times["to-nir"] < 2.0 else "TOO SLOW"
        print(f"to-nir target < 2 s after imports: {times['to-nir']:.3f} s -> {verdict}")


if __name__ == "__main__":
    main()
