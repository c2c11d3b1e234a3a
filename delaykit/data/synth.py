"""Synthetic SHD-schema data, above all the *delay task*.

The delay task: every class uses the same ``n_active`` input channels, each firing one burst
of ``burst_spikes`` spikes per sample. Classes differ only in the *order* in which the channels
fire: class ``c`` puts channel ``k`` in time slot ``perm_c[k]``, slots ``slot_ms`` apart. So
every class has the same channels, the same spike counts and the same set of inter-burst
lags; only which channel comes when differs. Jitter, a random onset, background Poisson
spikes and distractor bursts on other channels make it a little noisy.

Slots are at least two 10 ms frames apart and jitter is clipped to ±``jitter_clip_ms``, so two
informative channels never share a frame: a network whose neurons forget within a step
(LIF with tau ~ 1 step) and has no delays sees the same multiset of per-frame patterns in every
class and stays near chance, while delays up to ``(n_active - 1) * slot_ms`` let a neuron
line up two channels' bursts and read their order.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from delaykit.data.shd import write_shd
from delaykit.progress import progress_bar


@dataclass(frozen=True)
class DelayTaskConfig:
    """Parameters of the delay task. Times in milliseconds unless named otherwise."""

    n_classes: int = 10
    n_active: int = 8
    n_units: int = 700
    channel_group: int = 5
    slot_ms: float = 20.0
    burst_spikes: int = 3
    burst_spread_ms: float = 1.0
    jitter_ms: float = 2.0
    jitter_clip_ms: float = 4.0
    onset_max_ms: float = 100.0
    background_hz: float = 1.0
    distractor_bursts: int = 2
    window_s: float = 0.3
    n_speakers: int = 10

    def __post_init__(self) -> None:
        n_channels = math.ceil(self.n_units / self.channel_group)
        if not 2 <= self.n_active <= n_channels:
            raise ValueError(f"delay task: field 'n_active': must be in 2..{n_channels}, got {self.n_active}")
        if self.n_classes < 2 or self.n_classes > math.factorial(self.n_active):
            raise ValueError(
                f"delay task: field 'n_classes': must be in 2..{math.factorial(self.n_active)} "
                f"(orderings of {self.n_active} channels), got {self.n_classes}"
            )
        if self.slot_ms <= 2 * self.jitter_clip_ms + self.burst_spread_ms:
            raise ValueError("delay task: field 'slot_ms': must exceed 2 x jitter_clip_ms + burst_spread_ms")
        span_s = (
            self.onset_max_ms
            + (self.n_active - 1) * self.slot_ms
            + self.jitter_clip_ms
            + self.burst_spread_ms
        ) / 1e3
        if span_s >= self.window_s:
            raise ValueError(
                f"delay task: field 'window_s': {self.window_s} s is shorter than the pattern span "
                f"{span_s:.3f} s"
            )

    @property
    def n_channels(self) -> int:
        """Input channels: ``ceil(n_units / channel_group)``."""
        return math.ceil(self.n_units / self.channel_group)

    @property
    def max_lag_ms(self) -> float:
        """Largest lag between two informative bursts, in milliseconds."""
        return (self.n_active - 1) * self.slot_ms


#: The delay task sized for SynSense Xylo (``delaykit data synth --preset xylo``): 16 input
#: channels (one unit each), 8 classes = 8 orders of 4 informative channels, slots 80 ms (8
#: frames of 10 ms) apart. Xylo's neuron keeps at least half its synaptic current for a step
#: (``dash_syn >= 1``), so with the default task's 20 ms slots a network without delays reads
#: the order from what is left of the previous burst's current (90 % with 40 ms slots); 8
#: frames later about 1/500 of it is left, and lining two adjacent bursts up takes delays of
#: 7..9 steps.
XYLO_TASK = DelayTaskConfig(
    n_classes=8, n_active=4, n_units=16, channel_group=1, slot_ms=80.0, onset_max_ms=60.0, window_s=0.35
)

#: Named task presets (``delaykit data synth --preset NAME``).
PRESETS: dict[str, DelayTaskConfig] = {"default": DelayTaskConfig(), "xylo": XYLO_TASK}


def task_layout(cfg: DelayTaskConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The active channels (n_active,) and per-class slot permutations (n_classes, n_active).

    Depends only on ``seed``, so train and test files made with one seed share the task.
    """
    rng = np.random.default_rng([seed, 0xD1A7])
    n_channels = math.ceil(cfg.n_units / cfg.channel_group)
    channels = np.sort(rng.choice(n_channels, size=cfg.n_active, replace=False))
    perms: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    while len(perms) < cfg.n_classes:
        p = tuple(int(x) for x in rng.permutation(cfg.n_active))
        if p not in seen:
            seen.add(p)
            perms.append(p)
    return channels, np.array(perms, dtype=np.int64)


def delay_task_sample(
    cfg: DelayTaskConfig, channels: np.ndarray, perm: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One sample's events: (times in seconds, sorted; units)."""
    g = cfg.channel_group
    onset = rng.uniform(0.0, cfg.onset_max_ms)
    times: list[np.ndarray] = []
    units: list[np.ndarray] = []
    for k, ch in enumerate(channels):
        jitter = float(np.clip(rng.normal(0.0, cfg.jitter_ms), -cfg.jitter_clip_ms, cfg.jitter_clip_ms))
        t0 = onset + perm[k] * cfg.slot_ms + jitter + cfg.jitter_clip_ms
        times.append(t0 + rng.uniform(0.0, cfg.burst_spread_ms, cfg.burst_spikes))
        units.append(ch * g + rng.integers(0, g, cfg.burst_spikes))
    window_ms = cfg.window_s * 1e3
    n_channels = math.ceil(cfg.n_units / g)
    others = np.setdiff1d(np.arange(n_channels), channels)
    for _ in range(cfg.distractor_bursts):
        ch = rng.choice(others)
        t0 = rng.uniform(0.0, window_ms - cfg.burst_spread_ms)
        times.append(t0 + rng.uniform(0.0, cfg.burst_spread_ms, cfg.burst_spikes))
        units.append(ch * g + rng.integers(0, g, cfg.burst_spikes))
    n_bg = rng.poisson(cfg.background_hz * cfg.n_units * cfg.window_s)
    times.append(rng.uniform(0.0, window_ms, n_bg))
    units.append(rng.integers(0, cfg.n_units, n_bg))
    t = np.concatenate(times) / 1e3
    u = np.concatenate(units).astype(np.int64)
    u = np.minimum(u, cfg.n_units - 1)
    order = np.argsort(t, kind="stable")
    return t[order], u[order]


def write_delay_task(
    path: str | Path,
    n_samples: int,
    cfg: DelayTaskConfig | None = None,
    *,
    seed: int = 0,
    split: str = "train",
    progress: bool = False,
) -> None:
    """Write ``n_samples`` delay-task samples (balanced classes) to an SHD-schema file.

    The task layout depends on ``seed`` only; the samples on ``seed`` and ``split``, so a
    train and a test file made with the same seed are the same task with different samples.
    """
    cfg = cfg or DelayTaskConfig()
    channels, perms = task_layout(cfg, seed)
    rng = np.random.default_rng([seed, sum(map(ord, split)), 0x5A3])
    labels = np.arange(n_samples) % cfg.n_classes
    rng.shuffle(labels)
    speakers = rng.integers(0, cfg.n_speakers, n_samples)
    times, units = [], []
    for i in progress_bar(range(n_samples), desc=f"delay task {split}", disable=not progress, unit="sample"):
        t, u = delay_task_sample(cfg, channels, perms[labels[i]], rng)
        times.append(t)
        units.append(u)
    meta = {
        "gender": rng.choice(np.array([b"female", b"male"]), cfg.n_speakers),
        "age": rng.integers(20, 60, cfg.n_speakers).astype(np.uint16),
        "body_height": rng.integers(155, 195, cfg.n_speakers).astype(np.uint16),
    }
    write_shd(
        path,
        times,
        units,
        labels,
        class_names=[f"order-{c}" for c in range(cfg.n_classes)],
        speakers=speakers,
        meta_info=meta,
        n_units=cfg.n_units,
        window_s=cfg.window_s,
        attrs={
            "delaykit_synth": "delay_task",
            "delaykit_synth_config": str(asdict(cfg)),
            "delaykit_synth_seed": seed,
            "delaykit_split": split,
            "delaykit_active_channels": channels,
        },
    )


def write_delay_task_pair(
    out_dir: str | Path,
    n_train: int = 2000,
    n_test: int = 500,
    cfg: DelayTaskConfig | None = None,
    *,
    seed: int = 0,
    progress: bool = False,
) -> tuple[Path, Path]:
    """Write ``delay_train.h5`` and ``delay_test.h5`` into ``out_dir``; return both paths."""
    out = Path(out_dir)
    train, test = out / "delay_train.h5", out / "delay_test.h5"
    write_delay_task(train, n_train, cfg, seed=seed, split="train", progress=progress)
    write_delay_task(test, n_test, cfg, seed=seed, split="test", progress=progress)
    return train, test
