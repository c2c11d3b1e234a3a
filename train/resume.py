"""Exact resume: what ``resume.pt`` holds and how a run continues from it.

``resume.pt`` is written after every epoch and every ``train.checkpoint_every_steps``
optimizer steps: the model and optimizer/scheduler states, torch's RNG state, the position
in the run (:class:`RunState`), the epoch history and the config. A run resumed from it
continues from the exact batch where it was written; on CPU with a fixed seed and thread
count the result is bit-identical to an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from delaykit.errors import DelaykitError
from delaykit.train import config as C
from delaykit.train.checkpoint import RESUME_FORMAT, load_checked, plain
from delaykit.train.model import DelaySNN
from delaykit.validate import integral

#: Keys that may change between the interrupted run and the resumed one (no effect on numerics,
#: or, for ``train.epochs``, extending a finished run).
_FREE_KEYS = {(s, k) for s in ("train", "data") for k in ("threads", "plots", "workers", "cache")}
_FREE_KEYS.add(("train", "epochs"))


@dataclass
class RunState:
    """Where a training phase is: epoch and step counts, running sums of the current epoch."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    loss_sum: float = 0.0
    correct: float = 0.0
    count: float = 0.0
    epoch_seconds: float = 0.0


def resume_dict(
    model: DelaySNN,
    opts: list[Any],
    scheds: list[Any],
    st: RunState,
    history: list[dict[str, Any]],
    cfg: Mapping[str, Any],
    phase: str,
) -> dict[str, Any]:
    """The ``resume.pt`` dict (weights_only-loadable) for the run's current state."""
    return {
        "format": RESUME_FORMAT,
        "phase": phase,
        "state": plain(st.__dict__),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "optimizers": [plain(o.state_dict()) for o in opts],
        "schedulers": [plain(s.state_dict()) for s in scheds],
        "rng": torch.get_rng_state(),
        "history": plain(history),
        "config": plain(dict(cfg)),
    }


def _checked_state(rs: Mapping[str, Any], cfg: Mapping[str, Any], path: Path) -> RunState:
    """The run position, refused when it lies outside the run (a damaged or edited file) or when
    more epochs are asked of a one-cycle schedule, whose length was fixed by the old count."""
    phase = str(rs.get("phase", "train"))
    section = "train" if phase == "train" else "finetune"
    epochs = int(cfg[section]["epochs"])
    before = rs["config"].get(section, {}).get("epochs")
    one_cycle = phase != "train" or "one_cycle" in (
        cfg["train"]["scheduler_w"],
        cfg["train"]["scheduler_pos"],
    )
    if before is not None and before != epochs and one_cycle:
        raise DelaykitError(
            f"resume: {section}.epochs {epochs} differs from the interrupted run's {before}, and its "
            f"one-cycle learning-rate schedule was built for {before} epochs; resume with --epochs "
            f"{before}, or start a new run folder"
        )
    try:
        st = RunState(**rs["state"])
    except TypeError as e:
        raise DelaykitError(
            f"{path}: field 'state' is not a run position ({e}); the file is damaged"
        ) from None
    integral(
        st.epoch, str(path), "state.epoch", 0, epochs, f"the run has {epochs} epochs; the file is damaged"
    )
    integral(st.step_in_epoch, str(path), "state.step_in_epoch", 0, fix="the file is damaged")
    integral(st.global_step, str(path), "state.global_step", 0, fix="the file is damaged")
    return st


def config_differences(now: Mapping[str, Any], before: Mapping[str, Any]) -> list[str]:
    """``"section.key: before -> now"`` for every config value that changed (free keys aside)."""
    diffs = []
    for section in C.DEFAULTS:
        for k in C.DEFAULTS[section]:
            if (section, k) in _FREE_KEYS:
                continue
            if now[section].get(k) != before[section].get(k):
                diffs.append(f"{section}.{k}: {before[section].get(k)!r} -> {now[section].get(k)!r}")
    return diffs


def restore(
    path: Path,
    cfg: Mapping[str, Any],
    model: DelaySNN,
    opts: list[Any],
    scheds: list[Any],
    log: Callable[[str], None],
) -> tuple[RunState, list[dict[str, Any]]]:
    """Load ``path`` into the model, optimizers, schedulers and torch's RNG; return (state, history).

    Raises DelaykitError when the file is missing or the config differs from the run's.
    """
    if not path.exists():
        raise DelaykitError(f"resume: {path} not found; start the run without resuming")
    rs = load_checked(path, RESUME_FORMAT)
    diffs = config_differences(cfg, rs["config"])
    if diffs:
        raise DelaykitError(
            f"resume: the config differs from the interrupted run's ({'; '.join(diffs)}); "
            f"resume with the same config or start a new run folder"
        )
    st = _checked_state(rs, cfg, path)
    model.load_state_dict(rs["state_dict"])
    for o, s in zip(opts, rs["optimizers"]):
        o.load_state_dict(s)
    for sc, s in zip(scheds, rs["schedulers"]):
        sc.load_state_dict(s)
    torch.set_rng_state(rs["rng"])
    log(f"resumed from {path}: epoch {st.epoch}, step {st.step_in_epoch} of the epoch")
    return st, list(rs["history"])


__all__ = ["RunState", "config_differences", "restore", "resume_dict"]
