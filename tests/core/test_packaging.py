"""Packaging: every package folder is listed in pyproject.toml, and the core imports without torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def _config():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _folder_of(package: str, package_dir: dict[str, str]) -> Path:
    parts = package.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in package_dir:
            return ROOT / package_dir[prefix] / Path(*parts[i:])
    return ROOT / Path(*parts)


def test_listed_packages_match_folders_on_disk():
    cfg = _config()
    package_dir = cfg["package-dir"]
    listed = set(cfg["packages"])
    for pkg in listed:
        assert (_folder_of(pkg, package_dir) / "__init__.py").is_file(), f"{pkg} listed but has no folder"
    on_disk = set()
    for pkg, folder in package_dir.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            if any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
                continue
            on_disk.add(".".join([pkg, *rel.parts]) if rel.parts else pkg)
    missing = on_disk - listed
    assert not missing, (
        f"package folders missing from pyproject.toml [tool.setuptools] packages: {sorted(missing)}"
    )


_BLOCK_TORCH = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == 'torch' or name.startswith('torch.'):
            raise ImportError('torch is blocked in this test')
sys.meta_path.insert(0, Block())
"""


def _run_without_torch(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _BLOCK_TORCH + code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )


def test_core_sim_and_targets_import_without_torch():
    modules = [
        "delaykit",
        "delaykit.network",
        "delaykit.data",
        "delaykit.data.shd",
        "delaykit.data.synth",
        "delaykit.data.download",
        "delaykit.cli.main",
        "delaykit.sim",
        "delaykit.hardware_targets",
    ]
    for folder, pkg in (("sim", "delaykit.sim"), ("hardware_targets", "delaykit.hardware_targets")):
        modules += [f"{pkg}.{p.stem}" for p in sorted((ROOT / folder).glob("*.py")) if p.stem != "__init__"]
    for p in sorted((ROOT / "delaykit").rglob("*.py")):
        rel = p.relative_to(ROOT).with_suffix("")
        if rel.name not in ("__init__", "__main__"):
            modules.append(".".join(rel.parts))
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in sorted(set(modules)))
    code += "import sys; assert 'torch' not in sys.modules\n"
    r = _run_without_torch(code)
    assert r.returncode == 0, r.stderr[-3000:]


def test_cli_help_works_without_torch():
    r = _run_without_torch(
        "from delaykit.cli.main import main\nimport sys\ntry:\n    main(['--help'])\n"
        "except SystemExit as e:\n    sys.exit(e.code)\n"
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "COMMAND" in r.stdout
