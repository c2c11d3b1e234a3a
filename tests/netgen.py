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
        layers.append(
            Layer(
                name=f"fc{li}",
                weight=w,
                delay=d,
                bias=b,
                neuron=neuron,
                weight_scale=scale,
                extend_steps=extend_steps,
            )
        )
    n_ch = sizes[0]
    return Network(
        layers=tuple(layers),
        dt=0.01,
        input=InputSpec(n_channels=n_ch, window_steps=window_steps, n_units=n_ch, channel_group=1),
        readout="spike_count" if spiking_last else readout,
    )


def random_frames(
    rng: np.random.Generator, steps: int, channels: int, rate: float = 0.2, max_count: int = 3
) -> np.ndarray:
    """Random (steps, channels) float32 count frames, several events per bin possible."""
    active = rng.random((steps, channels)) < rate
    counts = rng.integers(1, max_count + 1, (steps, channels))
    return (active * counts).astype(np.float32)


def with_relays(
    rng: np.random.Generator,
    net: Network,
    *,
    relays_per_layer: int = 6,
    n_taps: int = 4,
    max_tap_lag: int = 6,
    relay_delays: bool = True,
    density: float = 0.7,
) -> Network:
    """``net`` plus random relay neurons and input taps (format v2), with new synapses from them.

    Every hidden layer gets ``relays_per_layer`` relays forming random chains (a relay copies a
    main neuron or an earlier-drawn relay; the list is then shuffled, so a relay may copy one
    listed after it). The next layer gets one new weight column per relay (delays random up to
    the layer's max delay if ``relay_delays``, else 0); the first layer one per input tap
    ``(channel, lag in 1..max_tap_lag)``. New weights lie within the layer's existing range
    (same dtype, so integer layers stay within their bits).
    """
    from dataclasses import replace

    def widen(layer: Layer, extra: int) -> tuple[np.ndarray, np.ndarray]:
        w = layer.weight
        if w.dtype.kind in "iu":
            lo, hi = int(w.min()), int(w.max())
            new_w = rng.integers(min(lo, -1), max(hi, 1) + 1, (layer.n_out, extra)).astype(w.dtype)
        else:
            new_w = rng.normal(0.0, float(np.abs(w).max()) / 2 + 1e-3, (layer.n_out, extra)).astype(w.dtype)
        new_w = new_w * (rng.random((layer.n_out, extra)) < density)
        dmax = int(layer.delay.max()) if relay_delays else 0
        new_d = rng.integers(0, dmax + 1, (layer.n_out, extra))
        return np.concatenate([w, new_w.astype(w.dtype)], axis=1), np.concatenate(
            [layer.delay, new_d], axis=1
        )

    layers = list(net.layers)
    taps = [
        (int(rng.integers(0, net.input.n_channels)), int(rng.integers(1, max_tap_lag + 1)))
        for _ in range(n_taps)
    ]
    if taps:
        w, d = widen(layers[0], len(taps))
        layers[0] = replace(layers[0], weight=w, delay=d)
    for li in range(len(layers) - 1):
        lay = layers[li]
        n, k = lay.n_out, relays_per_layer
        if k == 0:
            continue
        src = np.array([rng.integers(0, n + r) for r in range(k)], dtype=np.int64)  # acyclic
        perm = rng.permutation(k)  # relay r is stored at index perm[r]
        stored = np.empty(k, dtype=np.int64)
        stored[perm] = np.where(src < n, src, n + perm[np.maximum(src - n, 0)])
        layers[li] = replace(lay, relay_src=stored)
        w, d = widen(layers[li + 1], k)
        layers[li + 1] = replace(layers[li + 1], weight=w, delay=d)
    return replace(net, layers=tuple(layers), input=replace(net.input, taps=tuple(taps)))


def with_v3_neurons(
    rng: np.random.Generator,
    net: Network,
    *,
    tau_syns: tuple[float | None, ...] = (None, 1.0, 1.5, 2.0, 5.0, 20.0, 1e6),
    resets: tuple[str, ...] = ("value", "subtract", "none"),
    leaks: tuple[str, ...] = ("euler", "exact"),
) -> Network:
    """``net`` with each layer's neuron given a random synaptic current (``tau_syn``), reset
    mode and leak rule (contract version 3), drawn per layer from the given choices."""
    from dataclasses import replace

    layers = []
    for layer in net.layers:
        ts = tau_syns[int(rng.integers(len(tau_syns)))]
        leak = leaks[int(rng.integers(len(leaks)))]
        if isinstance(layer.neuron, LIF):
            neuron = replace(
                layer.neuron, tau_syn=ts, leak=leak, reset=resets[int(rng.integers(len(resets)))]
            )
        else:
            neuron = replace(layer.neuron, tau_syn=ts, leak=leak)
        layers.append(replace(layer, neuron=neuron))
    return replace(net, layers=tuple(layers))
