"""The delay task sized for Xylo (``data synth --preset xylo`` / ``--channels``): 16 channels,
8 classes, and informative bursts far enough apart that only delays line them up."""

from __future__ import annotations

import math

import numpy as np
import pytest

from delaykit.cli.main import main
from delaykit.data.shd import BinSpec, SHDFile
from delaykit.data.synth import XYLO_TASK, task_layout, write_delay_task


def test_xylo_preset_fits_xylo_inputs_and_readouts():
    assert XYLO_TASK.n_channels == 16 and XYLO_TASK.n_classes == 8
    channels, perms = task_layout(XYLO_TASK, 0)
    assert len(channels) == XYLO_TASK.n_active and channels.max() < 16
    assert len({tuple(p) for p in perms}) == 8  # 8 different orders of the same channels


def test_xylo_task_bursts_are_at_least_seven_frames_apart(tmp_path):
    """Two informative bursts never come within 7 frames of each other, so what is left of
    one burst's synaptic current when the next arrives is below 2**-8 of its peak (dash_syn 1):
    the classes differ only in lags a network without delays cannot see."""
    path = tmp_path / "x.h5"
    write_delay_task(path, 64, XYLO_TASK, seed=3)
    channels, _ = task_layout(XYLO_TASK, 3)
    spec = BinSpec(dt=0.01, channel_group=1, window_steps=35)
    gaps = []
    with SHDFile(path, spec) as ds:
        assert ds.n_channels == 16 and ds.n_classes == 8
        for i in range(len(ds)):
            x = ds.frames(i)
            onsets = sorted(int(np.flatnonzero(x[:, c] >= 2)[0]) for c in channels)
            gaps.append(min(np.diff(onsets)))
            assert x[:, channels].sum() >= 3 * len(channels)
    assert min(gaps) >= 7
    # the slot is 8 frames; jitter moves some bursts by one frame either way
    assert max(gaps) <= 9 and math.isclose(np.median(gaps), 8, abs_tol=1)


def test_data_synth_preset_xylo_and_channels_flag(tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["data", "synth", "--preset", "xylo", "--out", str(out), "--train", "16", "--test", "8"]) == 0
    assert "8 classes, 16 channels" in capsys.readouterr().out
    with SHDFile(out / "delay_test.h5", BinSpec(dt=0.01, channel_group=1)) as ds:
        assert ds.n_units == 16 and ds.n_classes == 8
    out2 = tmp_path / "c"
    args = [
        "data",
        "synth",
        "--out",
        str(out2),
        "--train",
        "8",
        "--test",
        "8",
        "--classes",
        "8",
        "--channels",
        "16",
    ]
    assert main(args) == 0
    with SHDFile(out2 / "delay_train.h5", BinSpec(dt=0.01, channel_group=1)) as ds:
        assert ds.n_units == 16


@pytest.mark.parametrize(
    "flags, match",
    [(["--channels", "3"], "--active"), (["--preset", "xylo", "--classes", "30"], "--classes")],
)
def test_data_synth_flags_that_cannot_make_the_task_exit_2(tmp_path, capsys, flags, match):
    assert main(["data", "synth", "--out", str(tmp_path / "d"), "--train", "4", "--test", "4", *flags]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()
