"""Training data: SHD-schema adapter, GSC log-mel features, the GSC folder layout."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from delaykit.train import config as C  # noqa: E402
from delaykit.train.data import hz_to_mel_htk, log_mel, mel_filterbank, mel_to_hz_htk  # noqa: E402


def test_frames_dataset_matches_shdfile_and_caches(tmp_path):
    from delaykit.data.shd import BinSpec, SHDFile
    from delaykit.data.synth import write_delay_task_pair
    from delaykit.train.data import FramesDataset, GlobalBatchSampler, make_loader

    write_delay_task_pair(tmp_path, n_train=20, n_test=10, seed=1)
    spec = BinSpec(window_steps=30)
    cached = FramesDataset(tmp_path / "delay_train.h5", spec, cache="always")
    lazy = FramesDataset(tmp_path / "delay_train.h5", spec, cache="never")
    ref = SHDFile(tmp_path / "delay_train.h5", spec)
    for i in (0, 7, 19):
        x, y = cached[i]
        assert x.dtype == torch.float32 and tuple(x.shape) == (30, 140)
        np.testing.assert_array_equal(x.numpy(), ref[i][0])
        assert torch.equal(lazy[i][0], x) and y == ref[i][1]
    sampler = GlobalBatchSampler(20, 8, shuffle=True, seed=0, epoch=0)
    a = [b for b in make_loader(cached, sampler)]
    b = [b for b in make_loader(lazy, sampler)]
    assert len(a) == 3 and all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(a, b))


def test_mel_filterbank_is_htk_triangles():
    assert float(mel_to_hz_htk(hz_to_mel_htk(1234.5))) == pytest.approx(1234.5)
    assert float(hz_to_mel_htk(700.0)) == pytest.approx(2595.0 * np.log10(2.0))
    sr, n_mels = 8000.0, 40
    fine = mel_filterbank(40001, 50.0, 3900.0, n_mels, sr)  # 0.1 Hz grid
    freqs = np.linspace(0, sr / 2, 40001)
    centres = mel_to_hz_htk(np.linspace(hz_to_mel_htk(50.0), hz_to_mel_htk(3900.0), n_mels + 2))[1:-1]
    # each filter peaks (at 1, no area normalization) at its centre frequency, and is zero
    # outside its two neighbours' centres
    np.testing.assert_allclose(fine.max(axis=0), 1.0, atol=5e-3)  # grid step 0.1 Hz vs widths of ~40 Hz
    np.testing.assert_allclose(freqs[fine.argmax(axis=0)], centres, atol=0.11)
    assert fine[freqs < 49.9].sum() == 0.0
    # the reference's f_max = 14 kHz at 8 kHz sampling leaves the upper filters empty
    ref = mel_filterbank(129, 50.0, 14000.0, 140, sr)
    empty = ref.sum(axis=0) == 0
    assert empty.any() and not empty[:80].any() and empty[-1]


def _tone(freq: float, sr: int = 16000, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)


def test_log_mel_of_a_tone(tmp_path):
    cfg = C.load_config("gsc")
    x = _tone(1000.0).astype(np.float64) / 32768
    feats = log_mel(x, 16000.0, cfg)
    assert feats.shape == (101, 140) and feats.dtype == np.float32  # 1 s at 10 ms hops, centred frames
    d = cfg["data"]
    fb = mel_filterbank(d["gsc_n_fft"] // 2 + 1, d["gsc_f_min"], d["gsc_f_max"], d["gsc_n_mels"], 8000.0)
    centres = mel_to_hz_htk(np.linspace(hz_to_mel_htk(50.0), hz_to_mel_htk(14000.0), 142))[1:-1]
    band = int(feats[50].argmax())
    assert abs(centres[band] - 1000.0) < 60.0  # the loudest band is the one around the tone
    assert feats[50, band] > feats[50].min() + 60.0
    np.testing.assert_array_equal(feats[:, fb.sum(0) == 0], -100.0)  # empty bands: 10 log10(1e-10)
    # shorter clips are zero-padded to one second: same frame count
    assert log_mel(x[:8000], 16000.0, cfg).shape == (101, 140)


def test_gsc_folder_trains(tmp_path):
    from scipy.io import wavfile

    from delaykit.train.data import load_splits
    from delaykit.train.run import train_model

    root = tmp_path / "gsc"
    tests, valids = [], []
    for w, f0 in (("no", 500.0), ("yes", 2000.0)):
        (root / w).mkdir(parents=True)
        for j in range(6):
            wavfile.write(root / w / f"s{j}.wav", 16000, _tone(f0 * (1 + 0.02 * j), seconds=0.5))
        tests.append(f"{w}/s0.wav")
        valids.append(f"{w}/s1.wav")
    (root / "_background_noise_").mkdir()
    (root / "testing_list.txt").write_text("\n".join(tests) + "\n")
    (root / "validation_list.txt").write_text("\n".join(valids) + "\n")
    cfg = C.load_config("tiny", ["data.dataset=gsc", "train.epochs=1", "train.batch_size=4"])
    sp = load_splits(cfg, root)
    assert (len(sp.train), len(sp.valid), len(sp.test)) == (8, 2, 2)
    assert sp.class_names == ["no", "yes"] and sp.n_inputs == 140 and sp.window_steps == 101
    path = train_model(cfg, root, tmp_path / "run", progress=False, log=lambda s: None)
    ck = torch.load(path, weights_only=True)
    assert ck["arch"]["n_inputs"] == 140 and ck["arch"]["channel_group"] == 1 and ck["arch"]["n_units"] == 140
    assert "valid_acc_rounded" in ck["metrics"]
