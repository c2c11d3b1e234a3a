"""Spoken words for Xylo: ``--compact-labels`` numbers the chosen classes 0..n-1 and names only
them, so 8 words make 8 classes (Xylo's 8 readout neurons)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from delaykit.cli.main import main
from delaykit.data import spoken_digits as sd
from delaykit.data.shd import SHDFile


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)"
)
def test_compact_labels_number_the_chosen_words_from_zero(tmp_path, capsys):
    args = ["data", "spoken-digits", "--out", str(tmp_path), "--voices", "2", "--classes", "seven,3,null"]
    assert main([*args, "--compact-labels", "--no-progress", "--workers", "1"]) == 0
    for split in ("train", "test"):
        with SHDFile(tmp_path / f"spoken_digits_{split}.h5") as ds:
            assert ds.class_names() == ["seven", "three", "null"] and ds.n_classes == 3
            assert sorted(np.unique(ds.labels).tolist()) == [0, 1, 2]


def test_xylo_word_set_is_eight_english_digits():
    assert [sd.SHD_CLASS_NAMES[x] for x in sd.XYLO_LABELS] == [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
    ]
    assert sd.SpokenDigitsConfig().compact_labels is False  # SHD's numbering stays the default
