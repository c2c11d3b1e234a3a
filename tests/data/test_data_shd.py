"""SHD-schema reader and the delay task, on files written in the real schema."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from delaykit.data.shd import BinSpec, SHDFile, bin_events, write_shd
from delaykit.data.synth import DelayTaskConfig, task_layout, write_delay_task, write_delay_task_pair
from delaykit.errors import DelaykitError, FormatError


def _write_ragged(path, n_units=700):
    times = [np.array([0.0, 0.0049, 0.005, 0.0101, 1.39]), np.array([]), np.array([0.02, 2.0])]
    units = [np.array([0, 4, 5, 699, 10]), np.array([], dtype=int), np.array([7, 8])]
    write_shd(
        path,
        times,
        units,
        np.array([3, 0, 19]),
        class_names=[f"c{i}" for i in range(20)],
        speakers=np.array([1, 2, 3]),
        n_units=n_units,
    )


def test_reader_bins_counts_with_fixed_window(tmp_path):
    p = tmp_path / "ragged.h5"
    _write_ragged(p)
    with SHDFile(p) as ds:
        assert len(ds) == 3 and ds.n_channels == 140 and ds.window_steps == 140 and ds.n_classes == 20
        x, y = ds[0]
        assert x.shape == (140, 140) and x.dtype == np.float32 and y == 3
        # units 0 and 4 -> channel 0 at frame 0; unit 5 -> channel 1 frame 0; 699 -> channel 139 frame 1
        assert x[0, 0] == 2 and x[0, 1] == 1 and x[1, 139] == 1 and x[139, 2] == 1
        assert x.sum() == 5
        empty, _ = ds[1]
        assert empty.shape == (140, 140) and empty.sum() == 0
        late, _ = ds[2]
        assert late.sum() == 1 and ds.dropped_events == 1  # the event at 2.0 s is outside 1.4 s
        assert list(ds.speakers()) == [1, 2, 3]
        with pytest.raises(IndexError):
            ds.events(3)


def test_bin_spec_options(tmp_path):
    p = tmp_path / "ragged.h5"
    _write_ragged(p)
    with SHDFile(p, BinSpec(dt=0.005, channel_group=1, window_steps=4, binary=True)) as ds:
        x, _ = ds[0]
        assert x.shape == (4, 700)
        assert x[0, 0] == 1 and x[0, 4] == 1 and x[1, 5] == 1 and x[2, 699] == 1 and x.sum() == 4
    with pytest.raises(ValueError, match="field 'dt'"):
        BinSpec(dt=0)


def test_frames_do_not_depend_on_other_samples(tmp_path):
    """The padding trap: a sample's frames are the same whatever else is in the file."""
    t = np.array([0.01, 0.05])
    u = np.array([3, 9])
    write_shd(tmp_path / "a.h5", [t], [u], np.array([0]))
    write_shd(tmp_path / "b.h5", [t, np.array([1.3])], [u, np.array([1])], np.array([0, 1]))
    with SHDFile(tmp_path / "a.h5") as a, SHDFile(tmp_path / "b.h5") as b:
        np.testing.assert_array_equal(a[0][0], b[0][0])


def test_bin_events_matches_loop(rng):
    t = rng.uniform(0, 0.5, 300)
    u = rng.integers(0, 700, 300)
    spec = BinSpec(dt=0.01, channel_group=5)
    frames, dropped = bin_events(t, u, 700, spec, 40)
    ref = np.zeros((40, 140), np.float32)
    for ti, ui in zip(t, u):
        if int(ti // 0.01) < 40:
            ref[int(ti // 0.01), ui // 5] += 1
    np.testing.assert_array_equal(frames, ref)
    assert dropped == int((t >= 0.4).sum())


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(DelaykitError, match="no such file"):
        SHDFile(tmp_path / "nope.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + b"0" * 100)
    with pytest.raises(FormatError, match="not a readable HDF5 file"):
        SHDFile(junk)
    good = tmp_path / "good.h5"
    _write_ragged(good)
    truncated = tmp_path / "trunc.h5"
    truncated.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(FormatError):
        with SHDFile(truncated) as ds:
            for i in range(len(ds)):
                ds[i]
    wrong = tmp_path / "wrong.h5"
    with h5py.File(wrong, "w") as f:
        f.create_dataset("labels", data=[0, 1])
    with pytest.raises(FormatError, match="missing spikes/times, spikes/units"):
        SHDFile(wrong)
    inconsistent = tmp_path / "inconsistent.h5"
    _write_ragged(inconsistent)
    with h5py.File(inconsistent, "a") as f:
        del f["labels"]
        f.create_dataset("labels", data=[0, 1])
    with pytest.raises(FormatError, match="'spikes/times' has 3 samples but 'labels' has 2"):
        SHDFile(inconsistent)
    badunit = tmp_path / "badunit.h5"
    write_shd(badunit, [np.array([0.1])], [np.array([800])], np.array([0]), n_units=1000)
    with h5py.File(badunit, "a") as f:
        f.attrs["n_units"] = 700
    with pytest.raises(FormatError, match="'spikes/units' = 800: outside 0..699"):
        SHDFile(badunit)  # every sample is checked when the file is opened


def test_delay_task_schema_and_balance(tmp_path):
    train, test = write_delay_task_pair(tmp_path, 60, 30, seed=3)
    with h5py.File(train) as f:
        assert set(f["spikes"]) == {"times", "units"}
        assert f["spikes/times"].dtype.metadata["vlen"] == np.float32
        assert set(f["extra"]) >= {"keys", "speaker", "meta_info"}
        assert set(f["extra/meta_info"]) == {"gender", "age", "body_height"}
    with SHDFile(train) as ds:
        assert ds.window_steps == 30 and ds.n_classes == 10
        assert np.bincount(ds.labels).tolist() == [6] * 10


def test_delay_task_differs_only_in_timing(tmp_path):
    """Same channels, same burst counts in every class; no two informative bursts share a frame."""
    cfg = DelayTaskConfig(background_hz=0.0, distractor_bursts=0)
    p = tmp_path / "clean.h5"
    write_delay_task(p, 100, cfg, seed=5)
    channels, perms = task_layout(cfg, 5)
    with SHDFile(p) as ds:
        for i in range(len(ds)):
            x, y = ds[i]
            per_channel = x.sum(axis=0)
            assert set(np.flatnonzero(per_channel)) == set(channels.tolist())
            assert (per_channel[channels] == cfg.burst_spikes).all()
            frames_of = [set(np.flatnonzero(x[:, c])) for c in channels]
            for a in range(len(channels)):
                for b in range(a + 1, len(channels)):
                    assert not (frames_of[a] & frames_of[b])
            # the order of first frames follows the class permutation
            first = np.array([min(f) for f in frames_of])
            assert (np.argsort(first) == np.argsort(perms[y])).all()


def test_delay_task_is_deterministic(tmp_path):
    write_delay_task(tmp_path / "a.h5", 20, seed=7)
    write_delay_task(tmp_path / "b.h5", 20, seed=7)
    write_delay_task(tmp_path / "c.h5", 20, seed=7, split="test")
    with SHDFile(tmp_path / "a.h5") as a, SHDFile(tmp_path / "b.h5") as b, SHDFile(tmp_path / "c.h5") as c:
        for i in range(20):
            np.testing.assert_array_equal(a[i][0], b[i][0])
        assert any((a[i][0] != c[i][0]).any() for i in range(20))


def test_delay_task_config_validation():
    with pytest.raises(ValueError, match="field 'slot_ms'"):
        DelayTaskConfig(slot_ms=5.0)
    with pytest.raises(ValueError, match="field 'n_classes'"):
        DelayTaskConfig(n_active=3, n_classes=7)
    with pytest.raises(ValueError, match="field 'window_s'"):
        DelayTaskConfig(window_s=0.1)
