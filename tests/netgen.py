"""Random valid networks for tests (test-only code; never imported by the package)."""

from __future__ import annotations

import numpy as np

from delaykit.network import LI, LIF, InputSpec, Layer, Network


def random_network(
    rng: np.random.Generator,
    sizes: tuple[int, ...] = (20, 16, 8, 4),
    *,
    max_delay: int = 8,
    density: float = 1.0,
    integer_bits: int | None = None,
    tau: float = 1.005,
    threshold: float = 1.0,
    readout: str = "softmax_sum",
    spiking_last: bool = False,
    extend_steps: int = 0,
    window_steps: int = 20,
    weight_scale: float = 1.0,
) -> Network:
    """A feedforward network with the given layer sizes (sizes[0] = input channels).

    integer_bits: if set, weights are signed integers of that width with a per-neuron scale,
    and thresholds are integer-valued per neuron, as the converter's quantizer writes them.
    """
    layers = []
    n_layers = len(sizes) - 1
    for li in range(n_layers):
        n_in, n_out = sizes[li], sizes[li + 1]
        w = rng.normal(0.0, weight_scale / np.sqrt(n_in), (n_out, n_in)) * 3.0
        if density < 1.0:
            w = w * (rng.random((n_out, n_in)) < density)
        d = rng.integers(0, max_delay + 1, (n_out, n_in))
        b = rng.normal(0.0, 0.05, n_out)
        last = li == n_layers - 1
        scale = None
        if integer_bits is not None:
            qmax = 2 ** (integer_bits - 1) - 1
            s = np.maximum(np.abs(w).max(axis=1), 1e-3) / qmax
            w = np.clip(np.round(w / s[:, None]), -qmax, qmax).astype(np.int32)
            b = np.round(b / s).astype(np.int64)
            th = np.maximum(np.round(threshold / s), 1.0)
            scale = s
        else:
            th = threshold
        if last and not spiking_last:
            neuron = LI(tau=tau)
        else:
            neuron = LIF(tau=tau, v_threshold=th)
        layers.append(Layer(name=f"fc{li}", weight=w, delay=d, bias=b, neuron=neuron,
                            weight_scale=scale, extend_steps=extend_steps))
    n_ch = sizes[0]
    return Network(
        layers=tuple(layers), dt=0.01,
        input=InputSpec(n_channels=n_ch, window_steps=window_steps, n_units=n_ch, channel_group=1),
        readout="spike_count" if spiking_last else readout,
    )


def random_frames(rng: np.random.Generator, steps: int, channels: int, rate: float = 0.2,
                  max_count: int = 3) -> np.ndarray:
    """Random (steps, channels) float32 count frames, several events per bin possible."""
    active = rng.random((steps, channels)) < rate
    counts = rng.integers(1, max_count + 1, (steps, channels))
    return (active * counts).astype(np.float32)
