"""Xylo Audio 2: the numpy integer core (hardware_targets/xylo_core.py) against SynSense's xylosim.

The cross-check runs every random spec through ``xylosim.v2`` in its own environment (one
subprocess for the whole batch) and asks for equality of every recorded value: hidden spikes,
currents and membranes, readout currents, membranes and spikes. It is skipped, with the setup
command, when no python with xylosim is found ($DELAYKIT_XYLO_PYTHON, ``.venv-xylo``)::

    bash scripts/setup_xylo.sh && .venv/bin/pytest -q tests/targets/test_xylo_core.py

The golden tests pin values measured in xylosim 0.1.3 (docs/xylo.md) and run without it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from delaykit.errors import DelaykitError, FormatError
from delaykit.hardware_targets.xylo_check import SETUP_HINT, compare, find_xylo_python, run_xylosim
from delaykit.hardware_targets.xylo_core import XyloRecord, decay_step, evolve
from delaykit.hardware_targets.xylo_spec import XyloSpec, load_spec, save_spec

XYLO = find_xylo_python()
needs_xylosim = pytest.mark.skipif(XYLO is None, reason=f"xylosim not found: {SETUP_HINT}")
N_RANDOM = 150


def make_spec(n_in: int = 1, n_hid: int = 1, n_out: int = 1, n_syn: int = 1, **kw) -> XyloSpec:
    """A silent spec of the given sizes; keyword fields replace the defaults."""
    base = {
        "weights_in": np.zeros((n_in, n_hid, n_syn), int),
        "weights_rec": np.zeros((n_hid, n_hid, n_syn), int),
        "weights_out": np.zeros((n_hid, n_out), int),
        "dash_mem": np.full(n_hid, 15),
        "dash_syn": np.full((n_hid, n_syn), 15),
        "dash_mem_out": np.full(n_out, 15),
        "dash_syn_out": np.full(n_out, 15),
        "threshold": np.full(n_hid, 32767),
        "threshold_out": np.full(n_out, 32767),
        "bias": np.zeros(n_hid, int),
        "bias_out": np.zeros(n_out, int),
    }
    base.update(kw)
    return XyloSpec(**base)


def _sparse_int8(rng: np.random.Generator, shape: tuple[int, ...], extreme: bool) -> np.ndarray:
    w = rng.integers(-128, 128, size=shape)
    if extreme:
        w = np.where(rng.random(shape) < 0.5, -128, 127)
    return np.where(rng.random(shape) < rng.uniform(0.05, 0.6), w, 0)


def _thresholds(rng: np.random.Generator, n: int, scale: int) -> np.ndarray:
    th = rng.integers(1, scale + 1, size=n)
    edge = rng.random(n)
    low = (edge < 0.03) & (rng.random() < 0.3)  # in a few specs, thresholds <= 0: the cap, wraps
    th = np.where(low, rng.integers(-2000, 1, size=n), th)
    return np.where(edge > 0.97, 32767, th)


def _dash(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Mostly short decays (1..6), sometimes anything in 0..15."""
    return np.where(rng.random(shape) < 0.1, rng.integers(0, 16, shape), rng.integers(1, 7, shape))


def _bias(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.where(rng.random(n) < 0.5, 0, rng.integers(-400, 401, n))


def random_case(seed: int) -> tuple[XyloSpec, np.ndarray]:
    """A random valid spec and input raster; every 4th one drives states into saturation."""
    rng = np.random.default_rng(seed)
    saturate = seed % 4 == 3
    n_in, n_hid, n_out = int(rng.integers(1, 17)), int(rng.integers(1, 41)), int(rng.integers(1, 9))
    n_syn = int(rng.integers(1, 3))
    scale = int(rng.choice([64, 512, 4096, 32767]))
    shift_hi = 8 if rng.random() < 0.3 else 3
    aliases = np.full(n_hid, -1)
    if n_hid > 1 and rng.random() < 0.4:
        src = rng.random(n_hid) < 0.3
        tgt = rng.integers(0, n_hid, n_hid)
        aliases = np.where(src & (tgt != np.arange(n_hid)), tgt, -1)
    spec = make_spec(
        n_in, n_hid, n_out, n_syn,
        weights_in=_sparse_int8(rng, (n_in, n_hid, n_syn), saturate),
        weights_rec=_sparse_int8(rng, (n_hid, n_hid, n_syn), saturate),
        weights_out=_sparse_int8(rng, (n_hid, n_out), saturate),
        dash_mem=np.where(saturate & (rng.random(n_hid) < 0.5), 0, _dash(rng, n_hid)),
        dash_syn=_dash(rng, n_hid, n_syn), dash_mem_out=_dash(rng, n_out), dash_syn_out=_dash(rng, n_out),
        threshold=_thresholds(rng, n_hid, scale), threshold_out=_thresholds(rng, n_out, scale),
        bias=np.where(saturate & (rng.random(n_hid) < 0.2), -32768, _bias(rng, n_hid)), bias_out=_bias(rng, n_out),
        weight_shift_in=7 if saturate else int(rng.integers(0, shift_hi)),
        weight_shift_rec=7 if saturate else int(rng.integers(0, shift_hi)),
        weight_shift_out=int(rng.integers(0, shift_hi)),
        aliases=aliases,
    )  # fmt: skip
    n_steps = int(rng.integers(5, 61))
    counts = rng.poisson(rng.uniform(0.05, 3.0), size=(n_steps, n_in))
    counts = np.where(rng.random(counts.shape) < 0.03, rng.integers(0, 41, counts.shape), counts)
    return spec, counts


def edge_cases() -> list[tuple[XyloSpec, np.ndarray]]:
    """Hand-built corners: -32768 with dash_mem 0, thresholds <= 0, alias chains both ways."""
    cases = []
    w2 = np.full((1, 1, 2), -128)
    stuck = make_spec(
        1, 1, 1, 2, weights_in=w2, dash_syn=np.ones((1, 2)), dash_mem=np.zeros(1), weight_shift_in=7
    )
    cases.append((stuck, np.array([[3], [0], [0], [0], [0]])))
    wrap = make_spec(
        threshold=np.array([-3000]), bias=np.array([5]), dash_mem=np.array([3]), threshold_out=[-5]
    )
    cases.append((wrap, np.zeros((4, 1), int)))
    n = 6
    w_in = np.zeros((2, n, 1), int)
    w_in[0, :, 0] = [90, 0, 40, 70, 0, 120]
    w_in[1, :, 0] = [0, 127, -60, 0, 100, 0]
    chain = make_spec(
        2, n, 3, 1, weights_in=w_in, weights_out=np.tile([[20, -30, 5]], (n, 1)),
        dash_mem=np.full(n, 2), dash_syn=np.full((n, 1), 1), threshold=np.full(n, 30),
        threshold_out=np.array([10, 10, 1]), aliases=np.array([3, 0, 4, 5, 1, -1]),
    )  # fmt: skip
    cases.append((chain, np.random.default_rng(7).integers(0, 4, size=(30, 2))))
    return cases


# ---- the cross-check -----------------------------------------------------------------------


@needs_xylosim
def test_core_matches_xylosim_bit_for_bit():
    jobs = [random_case(seed) for seed in range(N_RANDOM)] + edge_cases()
    theirs = run_xylosim(jobs, python=XYLO)
    failures, totals = [], {"hidden spikes": 0, "readout spikes": 0, "saturated states": 0}
    for k, ((spec, counts), rec) in enumerate(zip(jobs, theirs, strict=True)):
        ours = evolve(spec, counts)
        diffs = compare(ours, rec)
        if diffs:
            failures.append(f"case {k}: {diffs[:3]}")
        totals["hidden spikes"] += int(ours.spikes.sum())
        totals["readout spikes"] += int(ours.spikes_out.sum())
        states = np.concatenate([ours.i_syn.ravel(), ours.v_mem.ravel(), ours.v_mem_out.ravel()])
        totals["saturated states"] += int(np.sum((states == 32767) | (states <= -32767)))
    assert not failures, f"{len(failures)}/{len(jobs)} specs differ:\n" + "\n".join(failures[:10])
    # the batch must exercise the corners it is meant to cover
    assert totals["hidden spikes"] > 1000 and totals["readout spikes"] > 100, totals
    assert totals["saturated states"] > 50, totals


@needs_xylosim
def test_runner_reports_shapes_of_both_synaptic_states():
    spec, counts = random_case(1)
    (rec,) = run_xylosim([(spec, counts)], python=XYLO)
    assert rec.i_syn.shape == (counts.shape[0], spec.n_hid, spec.n_syn)
    assert compare(evolve(spec, counts), rec) == []


# ---- golden values measured in xylosim 0.1.3 (no xylosim needed) -----------------------------


def test_decay_rounds_toward_minus_infinity_with_a_linear_step_for_positives():
    seq = {}
    for w in (100, -100):
        spec = make_spec(weights_in=np.array([[[w]]]), dash_syn=np.array([[4]]))
        seq[w] = evolve(spec, np.array([[1]] + [[0]] * 39)).i_syn[:, 0, 0].tolist()
    assert seq[100][:8] == [94, 89, 84, 79, 75, 71, 67, 63]
    assert seq[100][-6:] == [17, 16, 15, 14, 13, 12]  # x >> 4 == 0 below 16: one less per step
    assert seq[-100][:8] == [-93, -87, -81, -75, -70, -65, -60, -56]
    assert seq[-100][-5:] == [-3, -2, -1, 0, 0]  # -1 >> 4 == -1: negatives reach 0 by the shift
    x = np.array([0, 1, 15, 16, -1, -16, -17])
    assert decay_step(x, np.full(7, 4)).tolist() == [0, 1, 1, 1, -1, -1, -2]


def test_threshold_is_inclusive_and_reset_subtracts_up_to_31_events():
    spec = make_spec(weights_in=np.array([[[100]]]), threshold=np.array([99]))
    rec = evolve(spec, np.array([[1], [0], [0]]))
    assert rec.spikes[:, 0].tolist() == [1, 0, 1] and rec.v_mem[:, 0].tolist() == [0, 98, 95]
    many = make_spec(weights_in=np.array([[[127]]]), threshold=np.array([10]), weight_shift_in=3)
    rec = evolve(many, np.array([[1]]))
    assert rec.spikes[0, 0] == 31 and rec.v_mem[0, 0] == 1015 - 31 * 10


def test_counts_above_15_act_as_15_and_shift_applies_before_accumulation():
    spec = make_spec(weights_in=np.array([[[10]]]), weight_shift_in=2)
    assert evolve(spec, np.array([[3], [0], [20]])).i_syn[:, 0, 0].tolist() == [119, 118, 717]


def test_membrane_at_minus_32768_with_dash_mem_0_stays_there():
    spec, counts = edge_cases()[0]
    rec = evolve(spec, counts)
    assert rec.i_syn[:, 0, 0].tolist() == [-16384, -8192, -4096, -2048, -1024]
    assert rec.v_mem[:, 0].tolist() == [-32768] * 5  # -(-32768) wraps to -32768 in int16


def test_non_positive_threshold_fires_the_cap_and_wraps():
    spec, counts = edge_cases()[1]
    rec = evolve(spec, counts)
    assert rec.spikes[:3, 0].tolist() == [11, 0, 0] and rec.v_mem[:3, 0].tolist() == [-32531, -28459, -24896]
    assert rec.spikes_out[:, 0].tolist() == [1, 1, 1, 1] and rec.v_mem_out[0, 0] == 5


def test_hidden_events_reach_the_recurrent_core_and_readout_one_step_later():
    w_rec = np.zeros((2, 2, 1), int)
    w_rec[0, 1, 0] = 60
    spec = make_spec(
        1, 2, 1, weights_in=np.array([[[100], [0]]]), weights_rec=w_rec, weights_out=np.array([[70], [0]]),
        threshold=np.full(2, 50), threshold_out=[50],
    )  # fmt: skip
    rec = evolve(spec, np.array([[1], [0], [0], [0]]))
    assert rec.spikes.tolist() == [[1, 0], [2, 1], [2, 3], [2, 6]]
    assert rec.spikes_out[:, 0].tolist() == [0, 1, 1, 1]
    assert rec.v_mem_out[:, 0].tolist() == [0, 19, 176, 472] and rec.i_syn_out[:, 0].tolist() == [
        0,
        69,
        208,
        347,
    ]


def test_aliased_events_count_as_the_target_neurons_own():
    spec = make_spec(
        1, 2, 1, weights_in=np.array([[[100], [0]]]), weights_out=np.array([[0], [10]]),
        threshold=np.full(2, 50), threshold_out=[5], aliases=np.array([1, -1]),
    )  # fmt: skip
    rec = evolve(spec, np.array([[1], [0], [0]]))
    assert rec.spikes.tolist() == [[1, 1], [2, 2], [2, 2]]
    assert rec.v_mem_out[:, 0].tolist() == [0, 4, 26] and rec.spikes_out[:, 0].tolist() == [0, 1, 1]


# ---- relays: delays built from hidden neurons -------------------------------------------------


def relay_chain(n_relays: int, threshold: int, shift: int = 0) -> XyloSpec:
    """Input channel 0 -> neuron 0 -> relay 1 -> ... -> relay n: each a self-inhibited relay.

    A relay has ``dash_mem = 0``, ``dash_syn = 1``, threshold ``T << shift``, input weight
    ``2T`` and a self-connection ``-T``: its current is exactly ``T << shift`` per event of the
    step, so it repeats its input's event counts one step later (see docs/xylo.md).
    """
    n = n_relays + 1
    w_in = np.zeros((1, n, 1), int)
    w_in[0, 0, 0] = 2 * threshold
    w_rec = np.zeros((n, n, 1), int)
    w_rec[np.arange(n - 1), np.arange(1, n), 0] = 2 * threshold
    w_rec[np.arange(n), np.arange(n), 0] = -threshold
    w_out = np.zeros((n, 1), int)
    w_out[-1, 0] = 1
    return make_spec(
        1, n, 1, weights_in=w_in, weights_rec=w_rec, weights_out=w_out, dash_mem=np.zeros(n),
        dash_syn=np.ones((n, 1)), threshold=np.full(n, threshold << shift), threshold_out=[1],
        weight_shift_in=shift, weight_shift_rec=shift,
    )  # fmt: skip


def relay_cases() -> list[tuple[XyloSpec, np.ndarray]]:
    rng = np.random.default_rng(11)
    cases = []
    for threshold, shift in [(1, 0), (3, 0), (16, 0), (32, 3), (2, 6), (63, 0)]:
        counts = np.minimum(rng.poisson(rng.uniform(0.2, 3.0), size=(120, 1)), 15)
        cases.append((relay_chain(int(rng.integers(1, 12)), threshold, shift), counts))
    return cases


def test_self_inhibited_relays_repeat_event_counts_one_step_later():
    for spec, counts in relay_cases():
        rec = evolve(spec, counts)
        for k in range(spec.n_hid):
            assert np.array_equal(rec.spikes[k:, k], counts[: len(counts) - k, 0]), (k, spec.threshold[0])
        assert np.all(rec.i_syn[:, :, 0] == rec.spikes * spec.threshold)  # the current is T per event


@needs_xylosim
def test_relays_in_xylosim():
    cases = relay_cases()
    for (spec, counts), rec in zip(cases, run_xylosim(cases, python=XYLO), strict=True):
        assert compare(evolve(spec, counts), rec) == []


# ---- spec files and validation -------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    spec, counts = random_case(3)
    out = save_spec(spec, tmp_path / "xylo")
    save_spec(spec, out)  # replacing an existing folder
    back = load_spec(out)
    for name, value in spec.to_arrays().items():
        assert np.array_equal(value, getattr(back, name)), name
    assert compare(evolve(spec, counts), evolve(back, counts)) == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["fields"]) == set(spec.to_arrays())
    assert all(f["unit"] and f["meaning"] for f in manifest["fields"].values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xylo"]  # no temporary folders left


def test_load_refuses_a_changed_file(tmp_path):
    out = save_spec(make_spec(), tmp_path / "s")
    (out / "spec.npz").write_bytes((out / "spec.npz").read_bytes()[:-10])
    with pytest.raises(FormatError, match="checksum"):
        load_spec(out)
    with pytest.raises(FormatError, match="not a Xylo spec"):
        load_spec(tmp_path / "missing")


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("weights_in", np.full((1, 1, 1), 128), "int8"),
        ("weights_rec", np.full((1, 1, 1), -129), "int8"),
        ("weights_out", np.zeros((1, 9), int), "readout neurons"),
        ("weights_in", np.zeros((17, 1, 1), int), "input channels"),
        ("weights_in", np.zeros((1, 1, 3), int), "synaptic states"),
        ("dash_mem", np.array([16]), "4-bit"),
        ("dash_syn", np.array([[-1]]), "4-bit"),
        ("threshold", np.array([32768]), "16-bit"),
        ("bias_out", np.array([-32769]), "16-bit"),
        ("weight_shift_rec", 8, "weight shift"),
        ("weight_shift_in", 1.5, "integer"),
        ("aliases", np.array([0]), "own alias"),
        ("aliases", np.array([1]), "alias targets"),
        ("dash_mem_out", np.array([1, 1]), "shape"),
        ("threshold", np.array([0.5]), "whole numbers"),
        ("dt", 0.0, "positive"),
    ],
)
def test_validation_names_the_field(field, value, match):
    with pytest.raises(DelaykitError, match=match) as e:
        make_spec(**{field: value})
    assert f"XyloSpec.{field}" in str(e.value)


def test_recurrent_fan_out_limit():
    n = 70
    w_rec = np.zeros((n, n, 1), int)
    w_rec[0, 1:66, 0] = 1
    with pytest.raises(DelaykitError, match="XyloSpec.weights_rec: hidden neuron 0 has 65"):
        make_spec(1, n, 1, weights_rec=w_rec)


def test_evolve_checks_its_input():
    spec = make_spec(n_in=2)
    with pytest.raises(DelaykitError, match="input_counts"):
        evolve(spec, np.zeros((3, 1), int))
    with pytest.raises(DelaykitError, match="input_counts"):
        evolve(spec, -np.ones((3, 2), int))
    assert isinstance(evolve(spec, np.zeros((0, 2), int)), XyloRecord)
