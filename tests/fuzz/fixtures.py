"""Valid inputs of every kind, small, written once per session; mutants start from copies."""

from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path

import numpy as np

from delaykit.data.shd import write_shd
from delaykit.network import save_network

N_UNITS = 20
WINDOW = 20


def spike_lists(rng: np.random.Generator, n: int = 12) -> tuple[list, list, np.ndarray]:
    """Valid SHD-schema samples: ``n`` samples, 20 units, times in 0..0.19 s, 4 classes."""
    times, units = [], []
    for _ in range(n):
        k = int(rng.integers(5, 30))
        times.append(np.sort(rng.uniform(0.0, 0.19, k)).astype(np.float32))
        units.append(rng.integers(0, N_UNITS, k).astype(np.uint16))
    labels = np.arange(n) % 4
    return times, units, labels


def write_spikes(path: Path, rng: np.random.Generator, n: int = 12) -> Path:
    t, u, y = spike_lists(rng, n)
    write_shd(path, t, u, y, n_units=N_UNITS, window_s=0.2, class_names=[f"c{i}" for i in range(4)])
    return path


def write_wav(path: Path, samples: np.ndarray, fs: int = 16000, width: int = 2) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(fs)
        w.writeframes(np.asarray(samples).astype(f"<i{width}").tobytes())
    return path


def write_float_wav(path: Path, samples: np.ndarray, fs: int = 16000) -> Path:
    """A 32-bit IEEE-float WAV (format tag 3), written by hand: ``wave`` only writes PCM."""
    data = np.asarray(samples, dtype="<f4").tobytes()
    fmt = (3).to_bytes(2, "little") + (1).to_bytes(2, "little") + fs.to_bytes(4, "little")
    fmt += (fs * 4).to_bytes(4, "little") + (4).to_bytes(2, "little") + (32).to_bytes(2, "little")
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt
    body += b"data" + len(data).to_bytes(4, "little") + data
    path.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    return path


def build_inputs(base: Path) -> dict[str, Path]:
    """Write one valid file of each kind into ``base``; returns name -> path."""
    from convert_fixtures import make_delaykit_checkpoint
    from netgen import random_network

    from delaykit.cli.main import main

    rng = np.random.default_rng(7)
    base.mkdir(parents=True, exist_ok=True)
    paths = {"spikes": write_spikes(base / "spikes.h5", rng)}
    net = random_network(rng, (N_UNITS, 12, 4), max_delay=5, window_steps=WINDOW)
    save_network(net, base / "net.dkn")
    paths["dkn"] = base / "net.dkn"
    paths["ckpt"] = make_delaykit_checkpoint(
        base / "model.pt", rng, (N_UNITS, 12, 4), k=5, window_steps=WINDOW
    )
    for kind, flag in (("table", "to-table"), ("nir", "to-nir")):
        out = base / ("tables" if kind == "table" else "net.nir")
        if main(["convert", flag, str(paths["dkn"]), "-o", str(out)]) != 0:
            raise RuntimeError(f"fixture: convert {flag} failed")
        paths[kind] = out
    paths["qtable"] = base / "qtables"  # the int8 table folder of the checkpoint
    if main(["convert", "to-table", str(paths["ckpt"]), "--bits", "8", "-o", str(paths["qtable"])]) != 0:
        raise RuntimeError("fixture: convert to-table --bits 8 failed")
    t = np.arange(1600) / 16000
    paths["wav"] = write_wav(base / "tone.wav", (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))
    paths["config"] = base / "cfg.toml"
    paths["config"].write_text('base = "tiny"\n')
    src = Path(__file__).resolve().parents[2] / "hardware_targets" / "profiles" / "loihi2.toml"
    paths["profile"] = base / "chip.toml"
    shutil.copy(src, paths["profile"])
    (base / "paths.json").write_text(json.dumps({k: str(v) for k, v in paths.items()}))
    return paths


def copy_input(src: Path, folder: Path) -> Path:
    """A private copy of a valid input inside a case folder."""
    dst = folder / src.name
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy(src, dst)
    return dst
