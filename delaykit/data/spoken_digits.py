"""A spoken-digit set in SHD's image: the 20 SHD classes spoken by espeak-ng voices.

SHD (Cramer et al. 2020) holds the digits zero..nine in English (labels 0-9) and German
(labels 10-19: null, eins, ..., neun; SHD writes 'fuenf' for fünf), spoken by 12 people. Here
each *speaker* is a synthetic voice: an espeak-ng variant (``+m3``, ``+f2``, ``+klatt``, ...;
gender and age from espeak-ng's own variant table), an English accent (en-us, en-gb,
en-gb-scotland, ...) for the English words and ``de`` for the German ones, a base pitch
(espeak ``-p``), a base speed (``-s``, words per minute) and a base level. Every voice says
every selected word ``repeats`` times, each time with jittered speed, pitch and level.

Each utterance: espeak-ng writes a WAV (22.05 kHz) -> leading/trailing silence trimmed
(5 ms frames quieter than ``trim_db`` below the loudest one), 5 ms raised-cosine fades at
the cuts (a hard cut is a click that high channels would hear) -> a random onset of
0..``onset_max_ms`` of silence -> level gain -> :mod:`delaykit.data.audio` front end.

Split: like SHD's held-out speakers, whole voices go to the test file (a ``test_fraction`` of
each gender), so no test voice is heard in training. (SHD also puts a few utterances of the
training speakers into its test set; we do not.) Everything is drawn from ``seed``; espeak-ng
is deterministic, so one seed and one espeak-ng version give identical files.

Files: ``spoken_digits_train.h5`` and ``spoken_digits_test.h5`` in the SHD schema with
``extra/keys`` (SHD's 20 names), ``extra/speaker`` (voice id), ``extra/meta_info/{gender,
age, body_height, voice}`` indexed by voice id (age -1 and body_height NaN when unknown), and
root attributes ``delaykit_window_s`` (shared by both files), ``delaykit_cochlea`` and
``delaykit_spoken_digits`` (JSON: config, voices, espeak-ng version).

Sizes and costs measured on the project's 2-core machine (shared, espeak-ng 1.51): the
default, 24 voices x 20 words x 1 repeat = 480 clips (360 train / 120 test), takes ~50 s with
2 workers; 32 voices x 2 repeats = 1280 clips (960 / 320) takes 1.5-4 min depending on load.
Clips average 0.45 s of audio and ~9,600 spikes; the shared window is ~0.82 s (82 frames).
On the 32 x 2 set, the ``delay-task`` training config (140-64-64-20, K = 25, 20 epochs) gave
91.4 % (learned delays), 89.2 % (fixed random delays), 71.6 % (no delays), rounded-delay test
accuracy averaged over training seeds 0 and 1.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.data.audio import CochleaConfig, encode
from delaykit.data.audio_corpus import parallel_map, window_for
from delaykit.data.espeak import (
    ENGLISH_ACCENTS,
    ESPEAK,
    GERMAN_VOICE,
    VARIANTS,
    espeak_variants,
    espeak_version,
    fade,
    find_espeak,
    speak,
    trim_silence,
)
from delaykit.data.shd import write_shd
from delaykit.errors import DelaykitError
from delaykit.fileio import atomic_path

#: The 8-word set for SynSense Xylo (8 readout neurons): English zero..seven, labels 0..7.
XYLO_LABELS: tuple[int, ...] = tuple(range(8))

#: SHD's class names in label order (extra/keys of shd_train.h5).
SHD_CLASS_NAMES: tuple[str, ...] = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "null",
    "eins",
    "zwei",
    "drei",
    "vier",
    "fuenf",
    "sechs",
    "sieben",
    "acht",
    "neun",
)
#: What espeak-ng is asked to say for each label (German spelling with umlaut).
SPOKEN_TEXT: tuple[str, ...] = SHD_CLASS_NAMES[:15] + ("fünf",) + SHD_CLASS_NAMES[16:]


@dataclass(frozen=True)
class SpokenDigitsConfig:
    """How many voices and utterances, and how they vary. Speeds in words/min, pitch 0-99, dB."""

    n_voices: int = 24
    repeats: int = 1
    test_fraction: float = 0.25
    seed: int = 0
    labels: tuple[int, ...] = tuple(range(20))
    speed_range: tuple[int, int] = (130, 210)
    pitch_range: tuple[int, int] = (25, 75)
    level_db_range: tuple[float, float] = (-12.0, -3.0)
    speed_jitter: float = 0.08
    pitch_jitter: int = 6
    level_jitter_db: float = 2.0
    onset_max_ms: float = 30.0
    trim_db: float = 45.0
    #: False: labels keep SHD's numbering and the files name all 20 classes; True: the labels
    #: are the positions in ``labels`` and the files name only those classes (an 8-word set
    #: then has 8 classes, as Xylo's 8 readout neurons need)
    compact_labels: bool = False

    def __post_init__(self) -> None:
        def bad(f: str, why: str) -> ValueError:
            return ValueError(f"spoken digits: field '{f}': {why}, got {getattr(self, f)!r}")

        if self.n_voices < 2:
            raise bad("n_voices", "must be >= 2 (at least one training and one test voice)")
        if self.repeats < 1:
            raise bad("repeats", "must be >= 1")
        if not 0 < self.test_fraction < 1:
            raise bad("test_fraction", "must be between 0 and 1")
        if (
            not self.labels
            or any(not 0 <= int(x) < 20 for x in self.labels)
            or len(set(self.labels)) != len(self.labels)
        ):
            raise bad("labels", "must be distinct SHD labels in 0..19")
        if not 80 <= self.speed_range[0] <= self.speed_range[1] <= 450:
            raise bad("speed_range", "must be an increasing pair within 80..450 words/min")
        if not 0 <= self.pitch_range[0] <= self.pitch_range[1] <= 99:
            raise bad("pitch_range", "must be an increasing pair within 0..99")
        if not self.level_db_range[0] <= self.level_db_range[1] <= 0:
            raise bad("level_db_range", "must be an increasing pair of dB <= 0")
        if self.onset_max_ms < 0 or self.trim_db <= 0:
            raise bad("onset_max_ms", "onset_max_ms must be >= 0 and trim_db > 0")

    @property
    def n_test_voices(self) -> int:
        """Voices held out for the test file: ``test_fraction`` of them, at least 1, not all."""
        return max(1, min(self.n_voices - 1, round(self.test_fraction * self.n_voices)))


@dataclass(frozen=True)
class Voice:
    """A synthetic speaker. ``english`` is the espeak-ng voice for English words."""

    id: int
    variant: str
    gender: str
    age: int
    english: str
    pitch: int
    speed: int
    level_db: float
    split: str

    def espeak_voice(self, label: int) -> str:
        """The espeak-ng ``-v`` argument for a label: the English accent or German, plus the variant."""
        return f"{self.english if label < 10 else GERMAN_VOICE}+{self.variant}"

    def describe(self) -> str:
        """One line: voices, pitch, speed (words/min) and level in dB."""
        return (
            f"{self.english}/{GERMAN_VOICE}+{self.variant} p{self.pitch} s{self.speed} {self.level_db:+.1f}dB"
        )


@dataclass(frozen=True)
class Utterance:
    """One clip to synthesize: who says which label, how."""

    voice: int
    label: int
    repeat: int
    espeak_voice: str
    speed: int
    pitch: int
    gain_db: float
    onset_s: float


@dataclass
class SpokenDigitsResult:
    """Paths and figures of one generated set (seconds, spikes per sample)."""

    train_path: Path
    test_path: Path
    n_train: int
    n_test: int
    window_s: float
    spikes_per_sample: float
    audio_s_per_sample: float
    wall_s: float
    voices: list[Voice] = field(default_factory=list)
    n_classes: int = len(SHD_CLASS_NAMES)  # classes the files name

    def summary(self) -> str:
        """What ``delaykit data spoken-digits`` prints."""
        n_tr = sum(v.split == "train" for v in self.voices)
        return (
            f"wrote {self.train_path} ({self.n_train} samples, {n_tr} voices) and {self.test_path} "
            f"({self.n_test} samples, {len(self.voices) - n_tr} voices); {self.n_classes} classes, window "
            f"{self.window_s:.2f} s, {self.spikes_per_sample:.0f} spikes/sample, "
            f"{self.audio_s_per_sample:.2f} s audio/sample, {self.wall_s:.0f} s"
        )


def make_voices(cfg: SpokenDigitsConfig, variants: dict[str, tuple[str, int]]) -> list[Voice]:
    """Draw ``n_voices`` speakers from ``cfg.seed``; a test_fraction of each gender goes to test."""
    usable = [v for v in VARIANTS if v in variants and variants[v][0]]
    if len(usable) < 2:
        raise DelaykitError(
            "espeak-ng lists fewer than 2 of the expected voice variants (m1, f1, ...); "
            "is espeak-ng-data complete? Reinstall espeak-ng"
        )
    rng = np.random.default_rng([cfg.seed, 0x5D161])
    # Variants in preference order, cycled when more voices than variants are asked for.
    chosen = [usable[i % len(usable)] for i in range(cfg.n_voices)]
    accents = rng.permutation(np.resize(np.array(ENGLISH_ACCENTS), cfg.n_voices))
    pitch = rng.integers(cfg.pitch_range[0], cfg.pitch_range[1] + 1, cfg.n_voices)
    speed = rng.integers(cfg.speed_range[0], cfg.speed_range[1] + 1, cfg.n_voices)
    level = rng.uniform(*cfg.level_db_range, cfg.n_voices)
    # Split: a test_fraction of each gender, chosen at random.
    genders = np.array([variants[v][0] for v in chosen])
    is_test = np.zeros(cfg.n_voices, dtype=bool)
    n_test = cfg.n_test_voices
    for g in ("female", "male"):
        idx = rng.permutation(np.flatnonzero(genders == g))
        is_test[idx[: round(len(idx) / cfg.n_voices * n_test)]] = True
    short = n_test - int(is_test.sum())
    if short > 0:
        is_test[rng.permutation(np.flatnonzero(~is_test))[:short]] = True
    elif short < 0:
        is_test[rng.permutation(np.flatnonzero(is_test))[:-short]] = False
    return [
        Voice(
            i,
            v,
            variants[v][0],
            variants[v][1],
            str(accents[i]),
            int(pitch[i]),
            int(speed[i]),
            round(float(level[i]), 2),
            "test" if is_test[i] else "train",
        )
        for i, v in enumerate(chosen)
    ]


def plan_utterances(cfg: SpokenDigitsConfig, voices: list[Voice]) -> list[Utterance]:
    """Every voice x label x repeat with its jitter, in a fixed order (voice, label, repeat)."""
    rng = np.random.default_rng([cfg.seed, 0x07735])
    out = []
    for v in voices:
        for lab in cfg.labels:
            for r in range(cfg.repeats):
                sp = int(round(v.speed * (1.0 + rng.uniform(-cfg.speed_jitter, cfg.speed_jitter))))
                pi = int(np.clip(v.pitch + rng.integers(-cfg.pitch_jitter, cfg.pitch_jitter + 1), 0, 99))
                gain = min(0.0, v.level_db + rng.uniform(-cfg.level_jitter_db, cfg.level_jitter_db))
                onset = float(np.round(rng.uniform(0.0, cfg.onset_max_ms) * 1e-3, 4))
                out.append(Utterance(v.id, int(lab), r, v.espeak_voice(lab), sp, pi, round(gain, 2), onset))
    return out


def synthesize(u: Utterance, exe: str = ESPEAK) -> tuple[np.ndarray, float]:
    """Speak one utterance with espeak-ng; returns (mono float64 samples, rate Hz)."""
    return speak(SPOKEN_TEXT[u.label], u.espeak_voice, u.speed, u.pitch, exe)


def _make_clip(u: Utterance, exe: str, trim_db: float) -> tuple[np.ndarray, float]:
    x, fs = synthesize(u, exe)
    x = fade(trim_silence(x, fs, trim_db), fs)
    x = np.concatenate([np.zeros(int(round(u.onset_s * fs))), x]) * 10.0 ** (u.gain_db / 20.0)
    return x, fs


def _work(
    args: tuple[Utterance, str, float, CochleaConfig, str | None],
) -> tuple[np.ndarray, np.ndarray, float]:
    u, exe, trim_db, cochlea, wav_path = args
    x, fs = _make_clip(u, exe, trim_db)
    if wav_path is not None:
        from scipy.io import wavfile  # scipy: slow import, kept out of the CLI start

        with atomic_path(wav_path) as tmp:
            wavfile.write(tmp, int(fs), np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16))
    times, units = encode(x, fs, cochlea)
    return times, units, x.size / fs


def _wav_paths(out: Path, plan: list[Utterance], voices: list[Voice], keep: bool) -> list[str | None]:
    """Where each utterance's WAV goes (``out/wav/<split>/<word>/...``), or None when not kept."""
    if not keep:
        return [None] * len(plan)
    return [
        str(
            out
            / "wav"
            / voices[u.voice].split
            / SHD_CLASS_NAMES[u.label]
            / f"voice{u.voice:03d}_{SHD_CLASS_NAMES[u.label]}_{u.repeat}.wav"
        )
        for u in plan
    ]


def _voice_meta(voices: list[Voice]) -> dict[str, np.ndarray]:
    """extra/meta_info arrays indexed by voice id (body height unknown: NaN)."""
    return {
        "gender": np.array([v.gender.encode() for v in voices]),
        "age": np.array([v.age for v in voices], dtype=np.int64),
        "body_height": np.full(len(voices), np.nan),
        "voice": np.array([v.describe().encode() for v in voices]),
    }


@dataclass(frozen=True)
class _SetToWrite:
    """Everything both split files share: the plan, its encoded results and the file fields."""

    plan: list[Utterance]
    voices: list[Voice]
    results: list[tuple[np.ndarray, np.ndarray, float]]
    window_s: float
    n_units: int
    attrs: dict[str, Any]
    class_names: list[str]
    label_of: dict[int, int]  # SHD label -> the label written


def _write_split(out: Path, split: str, s: _SetToWrite) -> tuple[Path, int]:
    """Write ``spoken_digits_<split>.h5`` with the utterances of that split's voices."""
    idx = [i for i, u in enumerate(s.plan) if s.voices[u.voice].split == split]
    path = out / f"spoken_digits_{split}.h5"
    write_shd(
        path,
        [s.results[i][0] for i in idx],
        [s.results[i][1] for i in idx],
        np.array([s.label_of[s.plan[i].label] for i in idx], dtype=np.int64),
        class_names=s.class_names,
        speakers=np.array([s.plan[i].voice for i in idx]),
        meta_info=_voice_meta(s.voices),
        n_units=s.n_units,
        window_s=s.window_s,
        attrs={**s.attrs, "split": split},
    )
    return path, len(idx)


def write_spoken_digits(
    out_dir: str | Path,
    cfg: SpokenDigitsConfig | None = None,
    *,
    cochlea: CochleaConfig | None = None,
    workers: int = 2,
    keep_wavs: bool = False,
    progress: bool = True,
) -> SpokenDigitsResult:
    """Synthesize, encode and write ``spoken_digits_{train,test}.h5`` into ``out_dir``."""
    cfg = cfg or SpokenDigitsConfig()
    cochlea = cochlea or CochleaConfig()
    exe = find_espeak()
    t0 = time.perf_counter()
    voices = make_voices(cfg, espeak_variants(exe))
    plan = plan_utterances(cfg, voices)
    out = Path(out_dir)
    wav_paths = _wav_paths(out, plan, voices, keep_wavs)
    jobs = [(u, exe, cfg.trim_db, cochlea, w) for u, w in zip(plan, wav_paths, strict=True)]
    results = parallel_map(_work, jobs, workers=workers, progress=progress, desc="spoken digits", unit="utt")
    info = {"config": asdict(cfg), "espeak_ng": espeak_version(exe), "voices": [asdict(v) for v in voices]}
    attrs = {
        "delaykit_cochlea": json.dumps(cochlea.to_dict()),
        "delaykit_spoken_digits": json.dumps(info),
        "delaykit_source": "delaykit data spoken-digits",
    }
    if cfg.compact_labels:
        names, label_of = [SHD_CLASS_NAMES[x] for x in cfg.labels], {x: k for k, x in enumerate(cfg.labels)}
    else:
        names, label_of = list(SHD_CLASS_NAMES), {x: x for x in range(len(SHD_CLASS_NAMES))}
    window = window_for([r[2] for r in results])
    todo = _SetToWrite(plan, voices, results, window, int(cochlea.n_channels), attrs, names, label_of)
    train_path, n_train = _write_split(out, "train", todo)
    test_path, n_test = _write_split(out, "test", todo)
    n = len(results)
    return SpokenDigitsResult(
        train_path,
        test_path,
        n_train,
        n_test,
        todo.window_s,
        sum(len(r[0]) for r in results) / n,
        sum(r[2] for r in results) / n,
        time.perf_counter() - t0,
        voices,
        len(todo.class_names),
    )


__all__ = [
    "ENGLISH_ACCENTS",
    "GERMAN_VOICE",
    "SHD_CLASS_NAMES",
    "SPOKEN_TEXT",
    "VARIANTS",
    "SpokenDigitsConfig",
    "SpokenDigitsResult",
    "Utterance",
    "Voice",
    "fade",
    "find_espeak",
    "make_voices",
    "plan_utterances",
    "synthesize",
    "trim_silence",
    "write_spoken_digits",
]
