"""convert on models trained by delaykit train: the deployed float network predicts like
PyTorch with rounded delays on every test sample, for the delaykit checkpoint and for the
same model saved as a reference-code (Thvnvtos/SNN-delays) state dict."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("DCLS")
pytest.importorskip("spikingjelly")

from delaykit.convert.checkpoint import ReferenceOptions  # noqa: E402
from delaykit.convert.verify import DEFAULT_ATOL, verify_fidelity  # noqa: E402


def reference_layout(ck: dict) -> dict:
    """A delaykit checkpoint's tensors renamed as SnnDelays' nn.Sequential state dict:
    per hidden layer Dcls1d, BatchNorm1d, LIFNode, Dropout (model.{4l..4l+3}), then the
    readout Dcls1d and LIFNode."""
    sd, n_hidden = ck["state_dict"], len(ck["arch"]["hidden"])
    out = {}
    for i in range(n_hidden + 1):
        base = 4 * i
        for leaf in ("weight", "P", "SIG"):
            out[f"model.{base}.{leaf}"] = sd[f"layers.{i}.{leaf}"]
        if i < n_hidden:
            for leaf in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                out[f"model.{base + 1}.{leaf}"] = sd[f"bn.{i}.{leaf}"]
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from delaykit.data.synth import write_delay_task_pair
    from delaykit.train.config import load_config
    from delaykit.train.run import train_model

    d = tmp_path_factory.mktemp("trained")
    write_delay_task_pair(d / "data", 96, 64, seed=3)
    cfg = load_config("tiny", ["model.hidden=[24, 24]", "model.kernel_size=25", "train.epochs=2"])
    path = train_model(cfg, d / "data", d / "run", progress=False)
    return path, d / "data" / "delay_test.h5"


@pytest.mark.parametrize("torch_model", ["train", "dcls"])
def test_delaykit_checkpoint_every_test_sample(trained, torch_model):
    model, test = trained
    r = verify_fidelity(model, test, torch_model=torch_model, progress=False)
    assert r["samples"] == 64
    assert r["agree"] == r["samples"], r["disagreements"]
    assert r["max_abs_diff"] <= DEFAULT_ATOL
    assert r["accuracy_torch_rounded"] == r["accuracy_deployed"]


def test_reference_state_dict_of_the_trained_model(trained, tmp_path):
    model, test = trained
    ck = torch.load(model, weights_only=True)
    ref = tmp_path / "ref_state_dict.pt"
    torch.save(reference_layout(ck), ref)
    a = ck["arch"]
    opts = ReferenceOptions(
        tau_ms=a["tau_steps"] * a["dt"] * 1e3 - 1e-9,
        dt_ms=a["dt"] * 1e3,
        kernel_size=a["kernel_size"],
        window_ms=a["window_steps"] * a["dt"] * 1e3,
    )
    r = verify_fidelity(ref, test, reference_code=True, options=opts, progress=False)
    assert r["source_kind"] == "reference" and r["torch_model"] == "dcls"
    assert r["agree"] == r["samples"] == 64 and r["max_abs_diff"] <= DEFAULT_ATOL
