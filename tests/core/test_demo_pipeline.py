"""The main job end to end (`delaykit demo`), at a small size."""

from __future__ import annotations

import json

import pytest

from delaykit.cli.main import main


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--out",
            str(out),
            "--samples",
            "200",
            "60",
            "--config",
            "tiny",
            "--set",
            "train.epochs=1",
            "--workers",
            "1",
            "--tolerance",
            "100",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    for name in (
        "deployed_float.dkn",
        "deployed_int8.dkn",
        "model.nir",
        "results.json",
        "results.txt",
        "learned/model.pt",
        "none/model.pt",
        "random/model.pt",
    ):
        assert (out / name).exists(), name
    assert (out / "tables" / "manifest.json").exists()
    res = json.loads((out / "results.json").read_text())
    rows = {r["model"]: r for r in res["rows"]}
    assert set(rows) == {"learned delays", "fixed random delays", "no delays"}
    for r in rows.values():
        # the deployed float network reproduces the rounded-delay PyTorch model exactly
        assert r["deployed_float_pct"] == pytest.approx(r["rounded_pct"], abs=1e-9)
    assert "verdict: PASS" in text and "deployed int8" in text
