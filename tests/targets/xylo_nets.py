"""Random small Xylo-expressible delay networks for the mapping tests (seeded numpy)."""

from __future__ import annotations

import numpy as np

from delaykit.network import LI, LIF, InputSpec, Layer, Network


def _layer(rng: np.random.Generator, name: str, n_out: int, n_in: int, last: bool, max_delay: int) -> Layer:
    density = rng.uniform(0.3, 0.9)
    w = rng.integers(-40, 41, (n_out, n_in)) * (rng.random((n_out, n_in)) < density)
    delay = rng.integers(0, max_delay + 1, (n_out, n_in))
    scale = rng.choice([0.5, 1.0, 0.01], size=n_out)
    th = rng.integers(20, 400, n_out)
    tau, tau_syn = 2.0 ** int(rng.integers(0, 6)), 2.0 ** int(rng.integers(1, 4))
    if last and rng.random() < 0.5:
        neuron: LIF | LI = LI(tau=tau, tau_syn=tau_syn)
    else:
        neuron = LIF(tau=tau, v_threshold=th, tau_syn=tau_syn, reset="subtract")  # integer units
    bias = rng.integers(-3, 6, n_out) * (rng.random(n_out) < 0.5)
    return Layer(name, w.astype(np.int8), delay, neuron, bias=bias, weight_scale=scale)


def random_xylo_net(seed: int) -> Network:
    """1..3 hidden layers of 1..12 neurons, <= 16 inputs, <= 8 readouts, delays 0..6, both signs."""
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(1, 17))
    sizes = [int(rng.integers(1, 13)) for _ in range(int(rng.integers(1, 4)))] + [int(rng.integers(1, 9))]
    max_delay = int(rng.integers(0, 7))
    layers, prev = [], n_in
    for k, n in enumerate(sizes):
        layers.append(_layer(rng, f"l{k}", n, prev, k == len(sizes) - 1, max_delay))
        prev = n
    inp = InputSpec(n_channels=n_in, window_steps=40, n_units=n_in, channel_group=1)
    return Network(layers=tuple(layers), dt=1e-3, input=inp, readout="membrane_sum")


def random_counts(seed: int, n_in: int, steps: int = 40) -> np.ndarray:
    """Input event counts, mostly 0..3, a few above 15 (Xylo caps them at 15)."""
    rng = np.random.default_rng(10_000 + seed)
    x = rng.poisson(rng.uniform(0.1, 1.5), (steps, n_in))
    x[rng.random((steps, n_in)) < 0.01] = 20
    return x.astype(np.int64)
