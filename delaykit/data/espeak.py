"""espeak-ng as a speech source: finding it, its voice variants, speaking, trimming clips.

Used by :mod:`delaykit.data.spoken_digits`. espeak-ng is deterministic: one version and one
set of options give the same samples.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from delaykit.data.audio import to_float
from delaykit.errors import DelaykitError

ENGLISH_ACCENTS: tuple[str, ...] = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)
GERMAN_VOICE = "de"

#: Human-sounding espeak-ng variants (robots, whispers and effects left out), in preference order.
VARIANTS: tuple[str, ...] = (
    "m1",
    "f1",
    "m2",
    "f2",
    "m3",
    "f3",
    "m4",
    "f4",
    "m5",
    "f5",
    "m6",
    "Annie",
    "m7",
    "aunty",
    "klatt",
    "belinda",
    "m8",
    "linda",
    "Andy",
    "steph",
    "klatt2",
    "Alicia",
    "klatt3",
    "Andrea",
    "klatt4",
    "anika",
    "benjamin",
    "grandma",
    "caleb",
    "david",
    "ed",
    "edward",
    "gustave",
    "iven",
    "john",
    "max",
    "michel",
    "paul",
    "quincy",
    "rob",
    "robert",
    "travis",
    "victor",
    "zac",
    "adam",
    "Alex",
    "boris",
    "norbert",
    "shelby",
    "Lee",
    "Mike",
    "Michael",
    "grandpa",
    "klatt5",
    "klatt6",
)

ESPEAK = "espeak-ng"


def find_espeak() -> str:
    """Path of the espeak-ng executable, or a DelaykitError saying how to install it."""
    exe = shutil.which(ESPEAK)
    if exe is None:
        raise DelaykitError(
            "espeak-ng not found on PATH: spoken-digits needs it to synthesize speech. Install it "
            "(Debian/Ubuntu: apt-get install espeak-ng; macOS: brew install espeak-ng) or use "
            "'delaykit data encode-audio' on recordings of your own"
        )
    return exe


def espeak_version(exe: str) -> str:
    """The first line of ``espeak-ng --version`` ('unknown' if it prints nothing)."""
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout
    return out.strip().splitlines()[0] if out.strip() else "unknown"


def espeak_variants(exe: str) -> dict[str, tuple[str, int]]:
    """Installed variants: file name (as after '+') -> (gender 'male'/'female', age or -1)."""
    out = subprocess.run([exe, "--voices=variant"], capture_output=True, text=True, check=False).stdout
    found: dict[str, tuple[str, int]] = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 5 or "/" not in parts[2]:
            continue
        age_s, g = parts[2].split("/", 1)
        name = parts[-1].split("/")[-1]
        gender = {"M": "male", "F": "female"}.get(g, "")
        found[name] = (gender, int(age_s) if age_s.isdigit() else -1)
    return found


def speak(text: str, voice: str, speed: int, pitch: int, exe: str = ESPEAK) -> tuple[np.ndarray, float]:
    """Say ``text`` with espeak-ng (``-v voice -s speed -p pitch``; speed in words/min, pitch
    0-99); returns (mono float64 samples in full-scale units, sample rate Hz)."""
    from scipy.io import wavfile  # scipy: slow import, kept out of the CLI start

    with tempfile.TemporaryDirectory(prefix="delaykit-espeak-") as d:
        wav = Path(d) / "u.wav"
        cmd = [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not wav.is_file():
            raise DelaykitError(
                f"espeak-ng failed ({' '.join(cmd)}): {proc.stderr.strip() or proc.returncode}"
            )
        fs, data = wavfile.read(wav)
    return to_float(data, "espeak-ng output"), float(fs)


def trim_silence(x: np.ndarray, fs: float, below_db: float, frame_ms: float = 5.0) -> np.ndarray:
    """Cut leading and trailing frames quieter than ``below_db`` under the loudest frame."""
    n = max(1, int(fs * frame_ms / 1e3))
    m = x.size // n
    if m == 0:
        return x
    rms = np.sqrt(np.mean(np.square(x[: m * n].reshape(m, n)), axis=1))
    if rms.max() == 0:
        return x[:0]
    loud = np.flatnonzero(rms >= rms.max() * 10.0 ** (-below_db / 20.0))
    return x[loud[0] * n : min(x.size, (loud[-1] + 1) * n)]


def fade(x: np.ndarray, fs: float, ms: float = 5.0) -> np.ndarray:
    """Raised-cosine fade-in and fade-out of ``ms`` milliseconds (no clicks at cut edges)."""
    n = min(int(fs * ms / 1e3), x.size // 2)
    if n < 1:
        return x
    w = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
    y = x.copy()
    y[:n] *= w
    y[-n:] *= w[::-1]
    return y
