"""The delaykit CLI: info and data verbs, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys

from netgen import random_network

from delaykit.cli.main import main
from delaykit.data.shd import SHDFile


def test_info_prints_summary(tmp_path, rng, capsys):
    path = tmp_path / "n.dkn"
    random_network(rng).save(path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "delay histogram fc0" in out and "synapses" in out
    assert main(["info", str(path), "--json"]) == 0
    assert '"max_delay_steps"' in capsys.readouterr().out


def test_bad_input_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.dkn"
    bad.write_text("not a network")
    r = subprocess.run([sys.executable, "-m", "delaykit", "info", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and str(bad) in r.stderr and "Traceback" not in r.stderr


def test_data_synth_writes_both_files(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["data", "synth", "--out", str(out), "--train", "20", "--test", "10", "--classes", "4"]) == 0
    with SHDFile(out / "delay_train.h5") as tr, SHDFile(out / "delay_test.h5") as te:
        assert len(tr) == 20 and len(te) == 10 and tr.n_classes == 4


def test_data_synth_bad_option_exit_2(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path), "--slot-ms", "1"]) == 2
    err = capsys.readouterr().err
    assert "slot_ms" in err and "--slot-ms" in err  # the library names the field, the CLI the flag
    assert not list(tmp_path.iterdir())


def test_download_unreachable_exit_2(tmp_path, capsys, monkeypatch):
    import delaykit.data.download as dl

    monkeypatch.setattr(dl, "BASE_URL", "http://127.0.0.1:9")
    code = main(["data", "download", "shd", "--dir", str(tmp_path)])
    assert code == 2
    assert "cannot reach the server" in capsys.readouterr().err


_BREAK_SIM_CLI = """
import sys, importlib.abc
class Broken(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == 'delaykit.sim.cli':
            raise ModuleNotFoundError('simulated breakage in ' + name, name=name)
sys.meta_path.insert(0, Broken())
from delaykit.cli.main import main
main(['--help'])
"""


def test_an_area_cli_that_fails_to_import_is_an_error_not_a_missing_command():
    r = subprocess.run([sys.executable, "-c", _BREAK_SIM_CLI], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "COMMAND" not in r.stdout
    assert "delaykit.sim.cli" in r.stderr
