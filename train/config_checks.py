"""Value checks of a resolved training config: each key's type, finiteness and range.

Runs inside :func:`delaykit.train.config.validate` before any run folder exists, so a NaN
learning rate, a negative thread count or a kernel of 99999 steps is refused with the key, the
value and the fix (``--set section.key=value``), never trained on or written to TOML.
The type of a key is the type of its default; the ranges are in :data:`BOUNDS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from delaykit.errors import DelaykitError
from delaykit.validate import MAX_KERNEL_SIZE, MAX_SEQUENCE_STEPS, in_range, integral

#: (lo, hi, lo_open) per dotted key; keys not listed only have to be finite numbers.
BOUNDS: dict[str, tuple[float | None, float | None, bool]] = {
    "data.dt": (0, 10.0, True),
    "data.channel_group": (1, 1_000_000, False),
    "data.window_steps": (1, MAX_SEQUENCE_STEPS, False),
    "data.workers": (0, 256, False),
    "data.gsc_sample_rate": (1, 1_000_000, False),
    "data.gsc_resample_rate": (1, 1_000_000, False),
    "data.gsc_n_fft": (1, 1 << 20, False),
    "data.gsc_hop": (1, 1 << 20, False),
    "data.gsc_n_mels": (1, 10_000, False),
    "data.gsc_f_min": (0, None, False),
    "data.gsc_f_max": (0, None, True),
    "model.hidden": (1, 1_000_000, False),
    "model.kernel_size": (1, MAX_KERNEL_SIZE, False),
    "model.tau_ms": (0, None, True),
    "model.readout_tau_ms": (0, None, True),
    "model.bn_eps": (0, 1.0, True),
    "model.dropout": (0, 1.0, False),
    "model.surrogate_alpha": (0, None, True),
    "model.tau_syn_steps": (1, None, False),
    "train.epochs": (1, 100_000, False),
    "train.batch_size": (1, 1_000_000, False),
    "train.eval_batch_size": (1, 1_000_000, False),
    "train.seed": (0, 2**32 - 1, False),
    "train.lr_w": (0, 10.0, True),
    "train.max_lr_w": (0, 10.0, True),
    "train.lr_pos": (0, 1000.0, True),
    "train.max_lr_pos": (0, 1000.0, True),
    "train.weight_decay": (0, 1.0, False),
    "train.sig_final": (0, None, False),
    "train.sig_anneal_frac": (0, 1.0, False),
    "train.threads": (0, 1024, False),
    "train.checkpoint_every_steps": (0, None, False),
    "finetune.epochs": (1, 100_000, False),
    "finetune.lr_w": (0, 10.0, True),
    "finetune.max_lr_w": (0, 10.0, True),
    "finetune.dropout": (0, 1.0, False),
    "finetune.weight_bits": (2, 32, False),
}

#: Keys whose default is None but hold a whole number when set.
_INT_OR_NONE = ("data.window_steps", "finetune.weight_bits")
#: Keys whose default is None but hold a number when set.
_FLOAT_OR_NONE = ("model.tau_syn_steps",)


def _fix(key: str) -> str:
    return f"set it with --set {key}=VALUE or in the config file"


def check_values(cfg: Mapping[str, Any], defaults: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse a value of the wrong type, not finite, fractional where whole, or out of range."""
    for section, keys in defaults.items():
        for key, default in keys.items():
            dotted = f"{section}.{key}"
            _check_one(dotted, cfg[section].get(key, default), default)


def _integral(key: str, value: Any, lo: float | None, hi: float | None) -> None:
    integral(
        value, "", key, int(lo) if lo is not None else None, int(hi) if hi is not None else None, _fix(key)
    )


def _check_one(key: str, value: Any, default: Any) -> None:
    lo, hi, lo_open = BOUNDS.get(key, (None, None, False))
    if value is None and (default is None or key in _INT_OR_NONE + _FLOAT_OR_NONE):
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise DelaykitError(f"{key} = {value!r}: must be true or false; {_fix(key)}")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise DelaykitError(f'{key} = {value!r}: must be text (e.g. "{default}"); {_fix(key)}')
    elif isinstance(default, list):
        if not isinstance(value, list):
            raise DelaykitError(f"{key} = {value!r}: must be a list, e.g. {default}; {_fix(key)}")
        for v in value:
            _integral(key, v, lo, hi)
    elif isinstance(default, int) or key in _INT_OR_NONE:
        _integral(key, value, lo, hi)
    elif isinstance(default, float) or key in _FLOAT_OR_NONE:
        if isinstance(value, bool):
            raise DelaykitError(f"{key} = {value!r}: must be a number; {_fix(key)}")
        in_range(value, "", key, lo, hi, lo_open=lo_open, fix=_fix(key))
    if key == "model.dropout" or key == "finetune.dropout":
        if float(value) >= 1.0:
            raise DelaykitError(f"{key} = {value!r}: must be below 1; {_fix(key)}")
