"""delaykit convert: every verb end to end on a delaykit checkpoint and a reference state dict."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("DCLS")

from convert_fixtures import make_delaykit_checkpoint, make_reference_state_dict  # noqa: E402

from delaykit.cli.main import main  # noqa: E402
from delaykit.network import load_network  # noqa: E402


@pytest.fixture
def ckpt(tmp_path, rng):
    return make_delaykit_checkpoint(tmp_path / "model.pt", rng, (20, 16, 12, 5), k=9)


def test_cli_module_imports_without_torch():
    code = (
        "import sys; import delaykit.convert.cli, delaykit.tables; "
        "bad = [m for m in ('torch', 'nir', 'onnx', 'pyarrow') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_export_verb(tmp_path, ckpt, capsys):
    assert main(["convert", "to-dkn", str(ckpt)]) == 0
    net = load_network(tmp_path / "model.dkn")
    assert net.layers[0].weight.dtype == np.float64 and net.layers[0].extend_steps == 4
    assert main(["convert", "to-nir", str(ckpt), "-o", str(tmp_path / "m.nir")]) == 0
    import nir

    assert "fc0" in nir.read(tmp_path / "m.nir", type_check=True).nodes
    assert main(["convert", "to-table", str(ckpt), "--format", "npz"]) == 0
    assert (tmp_path / "model_tables" / "synapses.npz").exists()
    assert main(["convert", "to-onnx", str(ckpt), "--dtype", "float32"]) == 0
    assert (tmp_path / "model.onnx").stat().st_size > 1000
    assert main(["convert", "to-netx", str(ckpt)]) == 0  # loihi2 implied, 8-bit
    assert (tmp_path / "model.netx.h5").exists()
    assert (
        main(["convert", "report", str(ckpt), "--target", "loihi2", "--plot", str(tmp_path / "r.png")]) == 0
    )
    rep = json.loads((tmp_path / "model.report.json").read_text())
    assert rep["target"] == "loihi2" and rep["quantized"] and len(rep["layers"]) == 3
    assert (tmp_path / "model.report.txt").exists() and (tmp_path / "r.png").exists()
    out = capsys.readouterr().out
    assert "conversion report" in out and "wrote" in out


def test_dkn_input_and_quantized_dkn(tmp_path, ckpt):
    assert (
        main(
            [
                "convert",
                "to-dkn",
                str(ckpt),
                "--target",
                "loihi2",
                "-o",
                str(tmp_path / "q.dkn"),
                "--report",
                str(tmp_path / "q.json"),
            ]
        )
        == 0
    )
    q = load_network(tmp_path / "q.dkn")
    assert all(lay.is_integer for lay in q.layers) and q.provenance["target"] == "loihi2"
    assert json.loads((tmp_path / "q.json").read_text())["quantized"]
    assert main(["convert", "to-nir", str(tmp_path / "q.dkn")]) == 0  # a .dkn converts too


def test_reference_state_dict_with_flags(tmp_path, rng):
    p = make_reference_state_dict(tmp_path / "ref.pt", rng, (30, 16, 8), k=13)
    assert (
        main(
            [
                "convert",
                "to-dkn",
                str(p),
                "--reference-code",
                "--kernel-size",
                "13",
                "--tau-ms",
                "20",
                "--dt-ms",
                "5",
                "--window-ms",
                "100",
                "--channel-group",
                "2",
            ]
        )
        == 0
    )
    net = load_network(tmp_path / "ref.dkn")
    assert net.dt == pytest.approx(0.005) and net.input.window_steps == 20
    assert net.layers[0].neuron.tau == pytest.approx(4.0) and net.layers[0].extend_steps == 6
    assert net.input.n_units == 60 and net.provenance["options"]["reference_code"]["kernel_size"] == 13


def test_errors_exit_2_with_one_line(tmp_path, ckpt, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_text("nope")
    assert main(["convert", "to-nir", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.pt" in err[0]
    assert main(["convert", "to-dkn", str(ckpt), "--target", "xylo"]) == 2  # no native delays
    assert "--clip" in capsys.readouterr().err
    assert main(["convert", "to-dkn", str(ckpt), "--target", "xylo", "--clip"]) == 0
    assert main(["convert", "to-netx", str(ckpt), "--per-neuron"]) == 2
    assert "one threshold per layer" in capsys.readouterr().err
    assert main(["convert", "to-dkn", str(ckpt), "--tau-ms", "3"]) == 2
    assert "--tau-ms 3.0" in capsys.readouterr().err
    assert main(["convert", "to-dkn", str(ckpt), "--bits", "1"]) == 2
    assert "--bits 1: must be between 2 and 32" in capsys.readouterr().err


def test_library_parameters_become_flags():
    from delaykit.convert.cli import flag_message

    assert flag_message("pass clip=True to clip them") == "pass --clip to clip them"
    assert flag_message("(per_neuron=False)") == "(without --per-neuron)"
    assert flag_message("quantize with target='loihi2'") == "quantize with --target loihi2"
    assert flag_message("kernel_size=9 allows at most 4") == "--kernel-size 9 allows at most 4"
    # quoted field names of files and other words stay as they are
    assert (
        flag_message("arch field 'kernel_size' lacks; weight_bits=8")
        == "arch field 'kernel_size' lacks; weight_bits=8"
    )


def test_verify_verb(tmp_path, rng):
    from delaykit.data.synth import write_delay_task_pair

    write_delay_task_pair(tmp_path, 4, 24, seed=2)
    ck = make_delaykit_checkpoint(
        tmp_path / "m.pt", rng, (140, 16, 12, 10), k=25, window_steps=30, channel_group=5, gain=3.0
    )
    js = tmp_path / "v.json"
    assert (
        main(
            [
                "convert",
                "verify",
                str(ck),
                str(tmp_path / "delay_test.h5"),
                "--torch-model",
                "dcls",
                "--json",
                str(js),
                "--no-progress",
            ]
        )
        == 0
    )
    r = json.loads(js.read_text())
    assert r["samples"] == 24 and r["agree"] == 24 and r["max_abs_diff"] < 1e-4


def test_deployed_inputs_nir_and_tables(tmp_path, ckpt):
    assert main(["convert", "to-nir", str(ckpt), "-o", str(tmp_path / "m.nir")]) == 0
    assert main(["convert", "to-table", str(ckpt), "-o", str(tmp_path / "tab"), "--format", "csv"]) == 0
    assert main(["convert", "to-dkn", str(tmp_path / "m.nir"), "-o", str(tmp_path / "a.dkn")]) == 0
    assert main(["convert", "to-dkn", str(tmp_path / "tab"), "-o", str(tmp_path / "b.dkn")]) == 0
    a, b = load_network(tmp_path / "a.dkn"), load_network(tmp_path / "b.dkn")
    for x, y in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(x.weight, y.weight)
    assert main(["convert", "to-dkn", str(tmp_path / "tab"), "--reference-code"]) == 2
