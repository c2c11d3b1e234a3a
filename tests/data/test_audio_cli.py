"""``delaykit data encode-audio`` on a few generated WAV files."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.io import wavfile

from delaykit.cli.main import main
from delaykit.data import audio
from delaykit.data.shd import BinSpec, SHDFile

FS = 16000


def write_tone(path: Path, f_hz: float, dur_s: float, dbfs: float = -20.0, fs: int = FS) -> None:
    t = np.arange(int(dur_s * fs)) / fs
    x = 10 ** (dbfs / 20) * np.sin(2 * np.pi * f_hz * t) * np.hanning(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, fs, np.round(x * 32767).astype(np.int16))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Two classes as folders (GSC layout): 'high' tones and 'low' tones, speakers in names."""
    root = tmp_path / "corpus"
    write_tone(root / "low" / "ann_0.wav", 300.0, 0.20)
    write_tone(root / "low" / "bob_0.wav", 350.0, 0.25, fs=22050)
    write_tone(root / "high" / "ann_1.wav", 3000.0, 0.15)
    write_tone(root / "high" / "bob_1.wav", 3500.0, 0.31)
    return root


def run(*argv: str) -> int:
    workers = [] if "--workers" in argv else ["--workers", "1"]
    return main(["data", "encode-audio", *argv, "--no-progress", *workers])


def test_labels_from_folders_and_speakers_from_names(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "set.h5"
    png = tmp_path / "plot.png"
    assert run(str(corpus), "--out", str(out), "--speaker-pattern", r"^([a-z]+)_", "--plot", str(png)) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with SHDFile(out) as ds:
        assert len(ds) == 4 and ds.n_units == 700
        assert ds.class_names() == ["high", "low"]
        # files are taken in sorted order: high/ann_1, high/bob_1, low/ann_0, low/bob_0
        np.testing.assert_array_equal(ds.labels, [0, 0, 1, 1])
        np.testing.assert_array_equal(ds.speakers(), [0, 1, 0, 1])
        # window = longest clip (0.31 s) rounded up to 10 ms
        assert ds.attrs()["delaykit_window_s"] == pytest.approx(0.31)
        assert ds.window_steps == 31
        frames, label = ds[0]
        assert frames.shape == (31, 140) and label == 0
        cf = audio.centre_frequencies(audio.CochleaConfig())
        for i in range(4):
            t, u = ds.events(i)
            assert t.size > 50
            peak = cf[np.bincount(u).argmax()]
            want = 3000.0 if i < 2 else 300.0
            assert abs(math.log(peak / want)) < math.log(1.25)
    with h5py.File(out, "r") as f:
        assert [n.decode() for n in f["extra/meta_info/name"][()]] == ["ann", "bob"]
        assert f["spikes/times"].dtype.base == np.dtype("O")  # ragged, like SHD


def test_labels_csv_classes_and_speaker_metadata(corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text(
        "path,label,speaker\n"
        "corpus/low/ann_0.wav,low,7\n"
        "corpus/high/bob_1.wav,high,3\n"
        "corpus/high/ann_1.wav,high,7\n",
        encoding="utf-8",
    )
    (tmp_path / "spk.csv").write_text(
        "speaker,gender,age,body_height\n3,male,41,1.80\n7,female,29,\n", encoding="utf-8"
    )
    out = tmp_path / "csv.h5"
    rc = run(
        "--labels",
        str(tmp_path / "labels.csv"),
        "--classes",
        "high,low",
        "--speakers",
        str(tmp_path / "spk.csv"),
        "--out",
        str(out),
        "--window-s",
        "0.5",
    )
    assert rc == 0
    with SHDFile(out) as ds:
        assert len(ds) == 3 and ds.window_steps == 50
        assert ds.class_names() == ["high", "low"]
        np.testing.assert_array_equal(ds.labels, [1, 0, 0])  # CSV order
        np.testing.assert_array_equal(ds.speakers(), [7, 3, 7])
    with h5py.File(out, "r") as f:
        mi = f["extra/meta_info"]
        assert len(mi["gender"]) == 8  # indexed by speaker id 0..7, like SHD
        assert mi["gender"][3] == b"male" and mi["gender"][7] == b"female" and mi["gender"][0] == b""
        assert mi["age"][3] == 41 and mi["age"][0] == -1
        assert mi["body_height"][3] == pytest.approx(1.80) and np.isnan(mi["body_height"][7])


def test_inputs_select_rows_of_the_csv(corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("path,label\ncorpus/low/ann_0.wav,4\ncorpus/high/ann_1.wav,9\n")
    out = tmp_path / "one.h5"
    assert (
        run(str(corpus / "high" / "ann_1.wav"), "--labels", str(tmp_path / "labels.csv"), "--out", str(out))
        == 0
    )
    with SHDFile(out) as ds:
        assert len(ds) == 1 and int(ds.labels[0]) == 9 and ds.class_names() == []
        assert ds.speakers() is None


def test_two_workers_write_the_same_file(corpus: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert run(str(corpus), "--out", str(a)) == 0
    assert (
        main(["data", "encode-audio", str(corpus), "--out", str(b), "--workers", "2", "--no-progress"]) == 0
    )
    with SHDFile(a, BinSpec()) as da, SHDFile(b, BinSpec()) as db:
        for i in range(len(da)):
            for x, y in zip(da.events(i), db.events(i), strict=True):
                np.testing.assert_array_equal(x, y)


def _write_bad_csv(tmp_path: Path) -> str:
    p = tmp_path / "nolabel.csv"
    p.write_text("path,class\ncorpus/low/ann_0.wav,low\n")
    return str(p)


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda c, t: [str(t / "nope")], "no such file or folder"),
        (lambda c, t: [str(c / "low" / "ann_0.wav"), "--classes", "a,b"], "not among"),
        (lambda c, t: [str(c), "--speaker-pattern", "("], "not a valid regular expression"),
        (lambda c, t: [str(c), "--speaker-pattern", "^zzz"], "does not match"),
        (lambda c, t: ["--labels", _write_bad_csv(t)], "lacks column"),
        (lambda c, t: [str(c), "--speakers", str(t / "x.csv")], "no speaker per file"),
        (lambda c, t: [str(c), "--f-max", "9000"], "'f_max'"),
        (lambda c, t: [str(c), "--window-s", "0"], "--window-s"),
        (lambda c, t: [], "give WAV files"),
        (lambda c, t: [str(c), "--workers", "0"], "--workers"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    corpus: Path, tmp_path: Path, capsys, make_args, message
) -> None:
    out = tmp_path / "out" / "bad.h5"
    assert run(*make_args(corpus, tmp_path), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_unreadable_wav_names_the_file(corpus: Path, tmp_path: Path, capsys) -> None:
    (corpus / "low" / "broken.wav").write_bytes(b"RIFF\x00\x00")
    out = tmp_path / "x.h5"
    assert run(str(corpus), "--out", str(out)) == 2
    assert "broken.wav" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".x.h5*"))


def test_non_wav_input_is_refused(tmp_path: Path, capsys) -> None:
    p = tmp_path / "a.mp3"
    p.write_bytes(b"ID3")
    assert run(str(p), "--out", str(tmp_path / "y.h5")) == 2
    assert "not a .wav file" in capsys.readouterr().err
