"""No false verdicts: a sample whose readout scores all tie has no prediction (issue 11, item 6)."""

from __future__ import annotations

import numpy as np
import pytest

from delaykit.network import LIF, InputSpec, Layer, Network
from delaykit.sim import UNDECIDED, apply_readout, evaluate, predict, simulate
from delaykit.sim.cli import format_report


def _silent_net() -> Network:
    """A spiking readout that never fires (negative weights): every spike count is 0."""
    layer = Layer("out", -np.ones((3, 2)), np.zeros((3, 2), int), LIF(tau=2.0, v_threshold=1.0))
    return Network((layer,), 0.01, InputSpec(2, 5, 2, 1), readout="spike_count")


def test_predict_all_tie_is_undecided():
    assert predict(np.array([0.0, 0.0, 0.0])) == UNDECIDED == -1
    assert predict(np.array([1.0, 2.0, 2.0])) == 1  # a partial tie: the first of the best
    assert predict(np.array([5.0])) == 0  # one class: nothing to decide between
    assert apply_readout("spike_count", np.zeros((4, 3))) == UNDECIDED
    assert apply_readout("membrane_sum", np.zeros((0, 3))) == UNDECIDED  # empty sequence


@pytest.mark.parametrize("engine", ["reference", "event"])
def test_silent_network_has_no_prediction(engine):
    res = simulate(_silent_net(), np.ones((5, 2), np.float32), engine)
    assert res.prediction == UNDECIDED and not res.output.any()


def test_undecided_samples_count_as_wrong_and_are_reported():
    data = [(np.ones((5, 2), np.float32), 0) for _ in range(4)]
    ev = evaluate(_silent_net(), data, engine="reference", progress=False)
    assert ev.accuracy == 0.0 and ev.undecided == 4 and ev.confusion.sum() == 0
    assert ev.to_dict()["undecided"] == 4
    report = format_report(ev, _silent_net())
    assert "accuracy: 0.00 % (0/4)" in report and "undecided: 4/4 samples" in report
