"""The import contract checker (scripts/check_layers.py): it passes on this repository and fails on
fixture trees that break the layer order, including through imports inside functions."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT / "scripts" / "check_layers.py"


def run_checker(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECKER), str(root)], capture_output=True, text=True, timeout=120
    )


def make_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """A minimal delaykit-shaped tree: the given files plus empty area packages."""
    base = {
        "delaykit/__init__.py": "",
        "delaykit/network.py": "import numpy as np\n",
        "sim/__init__.py": "",
        "hardware_targets/__init__.py": "",
        "train/__init__.py": "",
        "convert/__init__.py": "",
    }
    for rel, text in {**base, **files}.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return tmp_path


def test_this_repository_keeps_the_contract():
    res = run_checker(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 violation(s)" in res.stdout


def test_a_clean_fixture_tree_passes(tmp_path):
    root = make_tree(
        tmp_path,
        {
            "sim/engine.py": "from delaykit.network import np\n",
            "convert/export.py": "from delaykit.sim import engine\nfrom delaykit.train import model\n",
            "train/model.py": "from delaykit.hardware_targets import profile\n",
            "hardware_targets/profile.py": "from delaykit.sim.engine import np\n",
            "sim/cli.py": "from delaykit.convert.export import engine\n",  # the CLI sits on top
        },
    )
    res = run_checker(root)
    assert res.returncode == 0, res.stdout


@pytest.mark.parametrize(
    ("rel", "text", "expected"),
    [
        # a back-edge at module level: sim must not import convert
        ("sim/engine.py", "from delaykit.convert import export\n", "sim imports convert"),
        # the same back-edge hidden inside a function still counts
        (
            "hardware_targets/realize.py",
            "def f():\n    from delaykit.train.model import m  # lazy: torch\n    return m\n",
            "hardware_targets imports train",
        ),
        # the core imports no area
        ("delaykit/loading.py", "import delaykit.sim.engine\n", "core imports sim"),
        ("delaykit/loading.py", "from delaykit import sim\n", "core imports sim"),
        # a relative import resolves to its package
        ("convert/x.py", "from ..cli import main\n", "convert imports cli"),
        # a delaykit import inside a function without a reason hides the graph
        (
            "convert/export.py",
            "def f():\n    from delaykit.sim import engine\n    return engine\n",
            "inside a function",
        ),
    ],
)
def test_violations_are_found(tmp_path, rel, text, expected):
    root = make_tree(tmp_path, {rel: text})
    res = run_checker(root)
    assert res.returncode == 1, res.stdout
    assert expected in res.stdout
    assert rel in res.stdout


def test_a_marked_lazy_import_in_the_right_direction_passes(tmp_path):
    root = make_tree(
        tmp_path,
        {
            "convert/cli.py": "def f():\n    from delaykit.train import model  # lazy: torch\n    return model\n"
        },
    )
    assert run_checker(root).returncode == 0
