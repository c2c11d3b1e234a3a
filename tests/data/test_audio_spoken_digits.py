"""The espeak-ng spoken-digit set (delaykit.data.spoken_digits)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from delaykit.cli.main import main
from delaykit.data import spoken_digits as sd
from delaykit.data.shd import SHDFile
from delaykit.errors import DelaykitError

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)"
)

#: A fake variant table so that voice drawing is tested without espeak-ng.
FAKE_VARIANTS = {
    "m1": ("male", 70),
    "f1": ("female", 70),
    "m2": ("male", -1),
    "f2": ("female", -1),
    "m3": ("male", -1),
    "f3": ("female", -1),
    "klatt": ("male", -1),
    "whisper": ("male", -1),
}

TINY = sd.SpokenDigitsConfig(n_voices=2, repeats=1, labels=(3, 15), test_fraction=0.5)


def test_shd_label_order() -> None:
    names = sd.SHD_CLASS_NAMES
    assert len(names) == 20 and len(set(names)) == 20
    assert names[:3] == ("zero", "one", "two") and names[9] == "nine"
    assert names[10] == "null" and names[15] == "fuenf" and names[19] == "neun"
    assert sd.SPOKEN_TEXT[15] == "fünf" and sd.SPOKEN_TEXT[:15] == names[:15]


def test_voices_split_by_speaker_and_gender() -> None:
    cfg = sd.SpokenDigitsConfig(n_voices=12, test_fraction=0.25, seed=5)
    voices = sd.make_voices(cfg, FAKE_VARIANTS)
    assert [v.id for v in voices] == list(range(12))
    assert "whisper" not in {v.variant for v in voices}  # not a human-sounding variant
    test = [v for v in voices if v.split == "test"]
    assert len(test) == 3
    assert {v.gender for v in test} == {"male", "female"}
    assert all(cfg.pitch_range[0] <= v.pitch <= cfg.pitch_range[1] for v in voices)
    assert all(v.espeak_voice(3).startswith("en") and v.espeak_voice(13).startswith("de+") for v in voices)
    # deterministic for a seed, different for another
    assert sd.make_voices(cfg, FAKE_VARIANTS) == voices
    other = sd.make_voices(sd.SpokenDigitsConfig(n_voices=12, test_fraction=0.25, seed=6), FAKE_VARIANTS)
    assert other != voices


def test_utterance_plan_covers_voices_labels_repeats() -> None:
    cfg = sd.SpokenDigitsConfig(n_voices=3, repeats=2, labels=(0, 10, 19))
    voices = sd.make_voices(cfg, FAKE_VARIANTS)
    plan = sd.plan_utterances(cfg, voices)
    assert len(plan) == 3 * 3 * 2
    assert {(u.voice, u.label, u.repeat) for u in plan} == {
        (v, lab, r) for v in range(3) for lab in (0, 10, 19) for r in range(2)
    }
    for u in plan:
        v = voices[u.voice]
        assert abs(u.speed - v.speed) <= cfg.speed_jitter * v.speed + 1
        assert 0 <= u.onset_s <= cfg.onset_max_ms / 1e3 and u.gain_db <= 0
        assert u.espeak_voice == v.espeak_voice(u.label)
    # two repeats of one word differ (jitter)
    assert plan[0] != plan[1] and (plan[0].speed, plan[0].pitch) != (plan[1].speed, plan[1].pitch)


def test_trim_silence() -> None:
    fs = 16000
    x = np.concatenate([np.zeros(1600), 0.1 * np.ones(800), 1e-4 * np.ones(800), np.zeros(3200)])
    y = sd.trim_silence(x, fs, below_db=45.0)
    assert y.size == 800 and np.all(y == 0.1)
    assert sd.trim_silence(np.zeros(1000), fs, 45.0).size == 0


def test_fade_removes_the_click_of_a_cut() -> None:
    from delaykit.data import audio

    fs = 16000
    x = 0.1 * np.sin(2 * np.pi * 300 * np.arange(4000) / fs + 1.0)  # starts mid-cycle: a step
    y = sd.fade(x, fs)
    assert y[0] == pytest.approx(0.0, abs=1e-4 * 0.1) and np.array_equal(y[100:-100], x[100:-100])
    high = audio.centre_frequencies(audio.CochleaConfig()) > 2000
    _, u_cut = audio.encode(x, fs)
    _, u_fade = audio.encode(y, fs)
    assert high[u_cut].sum() > 0 and high[u_fade].sum() == 0


@pytest.mark.parametrize(
    "kw",
    [
        {"n_voices": 1},
        {"repeats": 0},
        {"test_fraction": 1.0},
        {"labels": (3, 20)},
        {"speed_range": (300, 200)},
    ],
)
def test_config_validation(kw: dict) -> None:
    with pytest.raises(ValueError, match=f"'{next(iter(kw))}'"):
        sd.SpokenDigitsConfig(**kw)


def test_missing_espeak_is_a_clear_error(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    with pytest.raises(DelaykitError, match="espeak-ng not found.*apt-get install espeak-ng"):
        sd.find_espeak()
    assert main(["data", "spoken-digits", "--out", str(tmp_path / "sd"), "--no-progress"]) == 2
    assert "espeak-ng not found" in capsys.readouterr().err
    assert not (tmp_path / "sd").exists()


@needs_espeak
def test_tiny_set_schema_split_and_wavs(tmp_path: Path) -> None:
    res = sd.write_spoken_digits(tmp_path, TINY, workers=1, keep_wavs=True, progress=False)
    assert (res.n_train, res.n_test) == (2, 2)
    speakers = {}
    for split, path in (("train", res.train_path), ("test", res.test_path)):
        assert path == tmp_path / f"spoken_digits_{split}.h5"
        with SHDFile(path) as ds:
            assert ds.class_names() == list(sd.SHD_CLASS_NAMES)
            assert ds.n_units == 700
            assert sorted(ds.labels.tolist()) == [3, 15]
            speakers[split] = set(ds.speakers().tolist())
            assert ds.window_steps == round(res.window_s / 0.01)
            for i in range(len(ds)):
                frames, _ = ds[i]
                assert frames.shape == (ds.window_steps, 140) and frames.sum() > 500
            assert ds.dropped_events == 0
            attrs = ds.attrs()
            info = json.loads(attrs["delaykit_spoken_digits"])
            assert info["config"]["seed"] == 0 and info["espeak_ng"].startswith("eSpeak NG")
            assert attrs["split"] == split
        with h5py.File(path, "r") as f:
            assert len(f["extra/meta_info/gender"]) == 2  # per voice, in both files
            assert set(f["extra/meta_info/gender"][()]) <= {b"male", b"female"}
    assert speakers["train"].isdisjoint(speakers["test"])  # held-out voices
    wavs = sorted((tmp_path / "wav").rglob("*.wav"))
    assert len(wavs) == 4 and {p.parent.name for p in wavs} == {"three", "fuenf"}


@needs_espeak
def test_same_seed_same_files_other_seed_other_voices(tmp_path: Path) -> None:
    a = sd.write_spoken_digits(tmp_path / "a", TINY, workers=1, progress=False)
    b = sd.write_spoken_digits(tmp_path / "b", TINY, workers=2, progress=False)
    c = sd.write_spoken_digits(
        tmp_path / "c", sd.SpokenDigitsConfig(**{**TINY.__dict__, "seed": 1}), workers=1, progress=False
    )
    for split in ("train", "test"):
        with h5py.File(getattr(a, f"{split}_path")) as fa, h5py.File(getattr(b, f"{split}_path")) as fb:
            for key in ("spikes/times", "spikes/units"):
                for x, y in zip(fa[key], fb[key], strict=True):
                    np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(fa["labels"][()], fb["labels"][()])
    with h5py.File(a.train_path) as fa, h5py.File(c.train_path) as fc:
        assert fa["spikes/times"][0].size != fc["spikes/times"][0].size
    assert a.voices != c.voices


@needs_espeak
def test_cli_spoken_digits(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    rc = main(
        [
            "data",
            "spoken-digits",
            "--out",
            str(out),
            "--voices",
            "2",
            "--repeats",
            "1",
            "--classes",
            "zero,19",
            "--test-fraction",
            "0.5",
            "--seed",
            "3",
            "--workers",
            "1",
            "--no-progress",
            "--plot",
            str(tmp_path / "sd.png"),
        ]
    )
    assert rc == 0
    assert (tmp_path / "sd.png").read_bytes()[:4] == b"\x89PNG"
    msg = capsys.readouterr().out
    assert "spoken_digits_train.h5 (2 samples, 1 voices)" in msg and "spikes/sample" in msg
    with SHDFile(out / "spoken_digits_test.h5") as ds:
        assert sorted(ds.labels.tolist()) == [0, 19]
        assert json.loads(ds.attrs()["delaykit_spoken_digits"])["config"]["seed"] == 3
    assert not (out / "wav").exists()


def test_cli_rejects_unknown_class(tmp_path: Path, capsys) -> None:
    rc = main(["data", "spoken-digits", "--out", str(tmp_path), "--classes", "zero,elf", "--no-progress"])
    assert rc == 2 and "'elf' is neither" in capsys.readouterr().err
