"""NIR both ways with six tools, each run for real in its own environment
(``scripts/setup_nir_tools.sh`` builds ``.venv-nir-<tool>``; a missing one skips its tests).

The models are the demo's, trained here on the delay task (``none``: no delays; ``learned``:
learned delays). export: delaykit's graph for the tool, run by the tool's importer (with
delaykit's node map for Delay and, where needed, LI) against delaykit's simulator on the same
frames. import: the tool builds the ``none`` model from its own layers (LIF; and, where the
tool has them, its current-based LIF, IF, an LI readout, zero and subtractive reset, its
defaults: ``VARIANTS``), runs it and exports NIR; delaykit imports that file and runs it, or
refuses naming the node and the reason. Every spike bin and readout bin is compared, on
``N_SAMPLES`` test samples.

The measured rows go to ``docs/nir_interop.json``; the README table between the
``nir-interop`` markers must equal what they render (``python -m
delaykit.convert.nir_matrix_cli`` rewrites it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("DCLS")

from delaykit.convert.nir_matrix import merge_rows, read_rows, render, replace_section, write_rows  # noqa: E402
from delaykit.convert.nir_tools import TOOLS, export_check, find_tool_python, import_check  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MATRIX_JSON = ROOT / "docs" / "nir_interop.json"
N_SAMPLES = 100  # the acceptance: 0 mismatched bins and the same predictions on 100 test samples
#: What each tool must achieve per direction: "exact" (no mismatch at all), "runs" (it runs;
#: the differences are measured and reported: rockpool's LIF subtracts its threshold and may
#: spike several times per step, spyx's fires a step late) or "refused" (delaykit refuses the
#: tool's export, naming node and reason).
EXPECT = {
    "spikingjelly": {"export": "exact", "import": "exact"},
    "norse": {"export": "exact", "import": "exact"},
    "snntorch": {"export": "exact", "import": "exact"},
    "sinabs": {"export": "exact", "import": "exact"},
    "rockpool": {"export": "runs", "import": "exact"},
    "spyx": {"export": "runs", "import": "refused"},
}
#: The tool's own networks beyond the plain LIF one (``nir_tool_native.VARIANTS``), imported into
#: delaykit: exact, or refused where the tool's file cannot say what its neurons did.
VARIANTS = {
    "spikingjelly": {"if": "exact", "default": "exact"},  # soft reset: its exporter refuses
    "norse": {"if": "exact", "li": "exact"},
    "snntorch": {"subtract": "refused", "default": "refused"},
    "sinabs": {"zero": "exact", "if": "exact", "li": "exact", "default": "refused"},
    "rockpool": {"li": "exact", "default": "refused"},
}
_ROWS: list[dict] = []


@pytest.fixture(scope="session")
def demo_models(tmp_path_factory):
    """The demo's models on a small delay task: {"none": Network, "learned": Network} and frames."""
    from delaykit.convert.build import convert_checkpoint
    from delaykit.data.shd import BinSpec, SHDFile
    from delaykit.data.synth import write_delay_task_pair
    from delaykit.train.run import train_model

    d = tmp_path_factory.mktemp("nir_tools")
    write_delay_task_pair(d / "data", 160, N_SAMPLES, seed=5)
    nets = {}
    for kind in ("none", "learned"):
        over = ["model.hidden=[24, 16]", "model.kernel_size=25", "train.epochs=3", f"model.kind={kind}"]
        ckpt = train_model("tiny", d / "data", d / kind, overrides=over, progress=False)
        nets[kind] = convert_checkpoint(ckpt)
    net = nets["none"]
    spec = BinSpec(dt=net.dt, channel_group=net.input.channel_group, window_steps=net.input.window_steps)
    with SHDFile(d / "data" / "delay_test.h5", spec) as test:
        frames = np.stack([test.frames(i) for i in range(N_SAMPLES)])
    return nets, frames


def _needs(tool: str) -> None:
    if find_tool_python(tool) is None:
        pytest.skip(f"no .venv-nir-{tool} (bash scripts/setup_nir_tools.sh {tool})")


def _check(row, tool: str, expect: str | None = None) -> None:
    _ROWS.append(row.to_dict())
    expect = expect or EXPECT[tool][row.direction]
    if expect == "exact":
        assert row.status == "ok", row
    elif expect == "refused":
        assert row.status == "refused" and row.reason, row
    else:
        assert row.status in ("ok", "mismatch") and row.spike_bins > 0, row


@pytest.mark.slow
@pytest.mark.parametrize("model", ["none", "learned"])
@pytest.mark.parametrize("tool", TOOLS)
def test_export_runs_in_tool(demo_models, tool, model):
    _needs(tool)
    nets, frames = demo_models
    row = export_check(nets[model], frames, tool, model)
    _check(row, tool)
    assert row.spike_bins > 0 and row.output_bins > 0


@pytest.mark.slow
@pytest.mark.parametrize("tool", TOOLS)
def test_tool_export_imports_in_delaykit(demo_models, tool):
    _needs(tool)
    nets, frames = demo_models
    row = import_check(nets["none"], frames, tool, "none")
    _check(row, tool)


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["spikingjelly", "norse", "snntorch", "rockpool"])
def test_tool_current_based_export_imports_with_contract_v3(demo_models, tool):
    """The tool's current-based LIF (spikingjelly CUBALIFNode, norse LIFCell, snntorch Synaptic,
    rockpool LIFTorch; tau_syn = 2 steps, no bias) exports CubaLIF; delaykit imports it as
    contract v3's synaptic current."""
    _needs(tool)
    nets, frames = demo_models
    row = import_check(nets["none"], frames, tool, "none-cuba", tau_syn_steps=2.0)
    _check(row, tool)


@pytest.mark.slow
@pytest.mark.parametrize(("tool", "variant"), [(t, v) for t, vs in VARIANTS.items() for v in vs])
def test_tool_variant_export_imports_or_is_refused(demo_models, tool, variant):
    """IF, an LI readout, zero and subtractive reset, the tool's defaults: spike for spike
    (readout membrane within OUTPUT_RTOL), or refused naming the node and the reason."""
    _needs(tool)
    nets, frames = demo_models
    row = import_check(nets["none"], frames, tool, f"none-{variant}", variant=variant)
    _check(row, tool, VARIANTS[tool][variant])


@pytest.mark.slow
def test_readme_matrix_is_current():
    """Runs last in this file: store the rows measured above, then the README must show them."""
    rows = merge_rows(read_rows(MATRIX_JSON), _ROWS)
    if _ROWS:
        write_rows(MATRIX_JSON, rows)
    readme = (ROOT / "README.md").read_text()
    assert replace_section(readme, render(rows)) == readme, (
        "README's NIR interop table is stale: python -m delaykit.convert.nir_matrix_cli"
    )
