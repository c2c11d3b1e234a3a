"""Simulation of deployed integer-delay networks (numpy + numba only, never torch).

The simulator's interface (docs/design.md, "Engines and how they are checked")::

    from delaykit.sim import simulate, evaluate, Arithmetic
    res = simulate(net, frames, engine="event", arithmetic=Arithmetic.for_target(t))
    ev = evaluate(net, dataset, workers=2)

Semantics and number formats: :mod:`delaykit.arithmetic`; the oracle:
:mod:`delaykit.sim.reference`; the fast engine: :mod:`delaykit.sim.event`.
"""

from delaykit.arithmetic import Arithmetic

from .evaluate import ENGINES, evaluate, make_runner, simulate
from .readout import UNDECIDED, apply_readout, predict, readout_scores
from .result import EvalResult, SimResult

__all__ = [
    "ENGINES",
    "Arithmetic",
    "EvalResult",
    "SimResult",
    "UNDECIDED",
    "apply_readout",
    "evaluate",
    "make_runner",
    "predict",
    "readout_scores",
    "simulate",
]
