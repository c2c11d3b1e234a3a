"""Each NIR tool's own network (the same layers, from the tool's own classes) and its own
NIR exporter; runs in the tool's environment (see ``nir_tool_maps``, no delaykit there).

Every layer is LIF with leak factor ``1 - 1/tau_steps`` and unit input gain, one spike per
step at most, the readout too (the prediction is the spike count); hard reset to 0 where the
tool has it, else the tool's own subtractive reset (sinabs, rockpool; contract v3
``reset="subtract"``). ``spec``: ``n_layers``, ``w{l}``/``b{l}`` (real units), ``tau_steps``,
``threshold``, ``dt`` (seconds).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from nir_tool_maps import Result, _version, torch


def _spec_layers(spec: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    n = int(spec["n_layers"])
    return [(np.asarray(spec[f"w{i}"], np.float64), np.asarray(spec[f"b{i}"], np.float64)) for i in range(n)]


def _native_spikingjelly(spec: dict, frames: np.ndarray) -> tuple[Result, Any]:
    from spikingjelly.activation_based import functional, layer, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    mods: list[torch.nn.Module] = []
    for w, b in _spec_layers(spec):
        lin = layer.Linear(w.shape[1], w.shape[0], bias=True)
        lin.weight.data, lin.bias.data = torch.as_tensor(w), torch.as_tensor(b)
        th, tau = float(spec["threshold"]), float(spec["tau_steps"])
        if "tau_syn_steps" in spec:  # current-based: c = c (1 - 1/tau_syn) + x; v = v (1 - 1/tau) + c
            c_decay = 1.0 - 1.0 / float(spec["tau_syn_steps"])
            lif = neuron.CUBALIFNode(c_decay=c_decay, v_decay=1.0 - 1.0 / tau, v_threshold=th, v_reset=0.0)
        else:
            lif = neuron.LIFNode(tau=tau, decay_input=False, v_threshold=th, v_reset=0.0)
        mods += [lin, lif]
    net = torch.nn.Sequential(*mods).double()
    functional.set_step_mode(net, "s")
    x = torch.as_tensor(frames, dtype=torch.float64)
    graph = export_to_nir(net, x[:1, 0], dt=float(spec["dt"]))
    functional.reset_net(net)
    spikes: dict[str, list] = {f"layer{i}": [] for i in range(len(mods) // 2)}
    with torch.no_grad():
        for t in range(x.shape[1]):
            h = x[:, t]
            for i in range(0, len(mods), 2):
                h = mods[i + 1](mods[i](h))
                spikes[f"layer{i // 2}"].append(h.clone())
    out = {k: torch.stack(v, 1).numpy() for k, v in spikes.items()}
    last = out.pop(f"layer{len(mods) // 2 - 1}")
    info = {"tool": "spikingjelly", "version": _version("spikingjelly"), "dtype": "float64"}
    return Result(last.astype(np.float64), out, info), graph


def _run_layers(mods: list[torch.nn.Module], x: torch.Tensor, stateful: bool) -> dict[str, np.ndarray]:
    """Run (Linear, neuron) pairs one step at a time; the spikes of every neuron layer."""
    n = len(mods) // 2
    spikes: dict[str, list] = {f"layer{i}": [] for i in range(n)}
    states: list[Any] = [None] * n
    with torch.no_grad():
        for t in range(x.shape[1]):
            h = x[:, t]
            for i in range(n):
                h = mods[2 * i](h)
                if stateful:
                    h, states[i] = mods[2 * i + 1](h, states[i])
                else:
                    h = mods[2 * i + 1](h)
                spikes[f"layer{i}"].append(h.clone())
    return {k: torch.stack(v, 1).double().numpy() for k, v in spikes.items()}


def _native_result(tool: str, spikes: dict[str, np.ndarray], dtype: str) -> Result:
    last = spikes.pop(f"layer{len(spikes) - 1}")
    return Result(last, spikes, {"tool": tool, "version": _version(tool), "dtype": dtype})


def _linear(w: np.ndarray, b: np.ndarray, gain: float = 1.0) -> torch.nn.Linear:
    lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=True)
    lin.weight.data = torch.as_tensor(w * gain, dtype=torch.float32)
    lin.bias.data = torch.as_tensor(b * gain, dtype=torch.float32)
    return lin


def _native_norse(spec: dict, frames: np.ndarray) -> tuple[Result, Any]:
    from norse.torch import LIFBoxCell, LIFBoxParameters, SequentialState
    from norse.torch.utils.export_nir import to_nir

    tau, dt = float(spec["tau_steps"]), float(spec["dt"])
    mods: list[torch.nn.Module] = []
    for w, b in _spec_layers(spec):  # norse's LIFBoxCell has gain dt/tau: weights x tau/dt
        n = w.shape[0]
        p = LIFBoxParameters(
            tau_mem_inv=torch.full((n,), 1.0 / (tau * dt)),
            v_th=torch.full((n,), float(spec["threshold"])),
            v_leak=torch.zeros(n),
            v_reset=torch.zeros(n),
        )
        mods += [_linear(w, b, tau), LIFBoxCell(p, dt=dt)]
    x = torch.as_tensor(frames, dtype=torch.float32)
    graph = to_nir(SequentialState(*mods), x[:1, 0], dt=dt)
    return _native_result("norse", _run_layers(mods, x, stateful=True), "float32"), graph


def _native_snntorch(spec: dict, frames: np.ndarray) -> tuple[Result, Any]:
    import snntorch as snn
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    beta = 1.0 - 1.0 / float(spec["tau_steps"])
    mods: list[torch.nn.Module] = []
    for w, b in _spec_layers(spec):
        n = w.shape[0]  # per-neuron beta and threshold: its exporter types a scalar as shape []
        kw = {"threshold": torch.full((n,), float(spec["threshold"])), "reset_mechanism": "zero"}
        kw.update(init_hidden=True, reset_delay=False)
        if "tau_syn_steps" in spec:  # Synaptic: syn = alpha syn + x; mem = beta mem + syn
            alpha = torch.full((n,), 1.0 - 1.0 / float(spec["tau_syn_steps"]))
            lif = snn.Synaptic(alpha=alpha, beta=torch.full((n,), beta), **kw)
        else:
            lif = snn.Leaky(beta=torch.full((n,), beta), **kw)
        mods += [_linear(w, b), lif]
    net = torch.nn.Sequential(*mods)
    x = torch.as_tensor(frames, dtype=torch.float32)
    graph = export_to_nir(net, x[0, 0])
    utils.reset(net)
    return _native_result("snntorch", _run_layers(mods, x, stateful=False), "float32"), graph


def _exp_tau(tau_steps: float) -> float:
    """The exact-decay time constant (steps) with the factor 1 - 1/tau_steps."""
    return -1.0 / float(np.log(1.0 - 1.0 / tau_steps))


def _native_sinabs(spec: dict, frames: np.ndarray) -> tuple[Result, Any]:
    import sinabs
    import sinabs.layers as sl
    from sinabs.activation import MembraneSubtract, SingleSpike

    b, t = frames.shape[:2]
    tau = _exp_tau(float(spec["tau_steps"]))
    mods: list[torch.nn.Module] = []
    for w, bias in _spec_layers(spec):
        lif = sl.LIFSqueeze(
            tau_mem=torch.full((w.shape[0],), tau),
            spike_threshold=torch.full((w.shape[0],), float(spec["threshold"])),
            spike_fn=SingleSpike,  # one spike per step; sinabs' own (subtractive) reset
            reset_fn=MembraneSubtract(),
            norm_input=False,
            num_timesteps=t,
        )
        mods += [_linear(w, bias), lif]
    net = torch.nn.Sequential(*mods)
    x = torch.as_tensor(frames, dtype=torch.float32).reshape(b * t, -1)
    spikes, h = {}, x
    with torch.no_grad():
        for i in range(0, len(mods), 2):
            h = mods[i + 1](mods[i](h))
            spikes[f"layer{i // 2}"] = h.reshape(b, t, -1).double().numpy()
    graph = sinabs.to_nir(net, x[:t])
    return _native_result("sinabs", spikes, "float32"), graph


def _native_rockpool(spec: dict, frames: np.ndarray) -> tuple[Result, Any]:
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFNeuronTorch, LinearTorch
    from rockpool.nn.modules.torch.nir import to_nir

    tau, dt = _exp_tau(float(spec["tau_steps"])), float(spec["dt"])
    mods = []
    for w, b in _spec_layers(spec):
        n_out, n_in = w.shape
        lin = LinearTorch(
            shape=(n_in, n_out),
            weight=torch.as_tensor(w.T, dtype=torch.float32),
            bias=torch.as_tensor(b, dtype=torch.float32),
            has_bias=True,
        )
        lif = LIFNeuronTorch(  # its own subtractive reset, one spike per step
            shape=(n_out,),
            tau_mem=torch.full((n_out,), tau * dt),
            threshold=torch.full((n_out,), float(spec["threshold"])),
            dt=dt,
            max_spikes_per_dt=1,
        )
        mods += [lin, lif]
    net = Sequential(*mods)
    spikes, h = {}, torch.as_tensor(frames, dtype=torch.float32)
    with torch.no_grad():
        for i in range(0, len(mods), 2):
            h, _, _ = mods[i](h)
            h, _, _ = mods[i + 1](h)
            spikes[f"layer{i // 2}"] = np.asarray(h.detach(), dtype=np.float64)
    graph = to_nir(net, torch.zeros((1, int(_spec_layers(spec)[0][0].shape[1]))))
    return _native_result("rockpool", spikes, "float32"), graph


def _native_spyx(spec: dict, frames: np.ndarray) -> tuple[Result, Any]:
    import jax.numpy as jnp
    import spyx.nir as snir
    import spyx.nn as snn
    from flax import nnx

    rngs = nnx.Rngs(0)
    beta = 1.0 - 1.0 / float(spec["tau_steps"])
    layers = []
    for w, b in _spec_layers(spec):
        lin = nnx.Linear(w.shape[1], w.shape[0], rngs=rngs)
        lin.kernel[...], lin.bias[...] = jnp.asarray(w.T, jnp.float32), jnp.asarray(b, jnp.float32)
        layers += [lin, snn.LIF((w.shape[0],), beta=beta, threshold=float(spec["threshold"]), rngs=rngs)]
    model = snn.Sequential(*layers)
    x = jnp.asarray(frames, dtype=jnp.float32)
    out, _ = snn.run(model, x, batch_major=True)
    n_in, n_out = x.shape[-1], int(_spec_layers(spec)[-1][0].shape[0])
    graph = snir.to_nir(
        model, {"input": np.array([n_in])}, {"output": np.array([n_out])}, dt=float(spec["dt"])
    )
    info = {"tool": "spyx", "version": _version("spyx"), "dtype": "float32"}
    return Result(np.asarray(out, dtype=np.float64), {}, info), graph


NATIVE = {
    "spikingjelly": _native_spikingjelly,
    "norse": _native_norse,
    "snntorch": _native_snntorch,
    "sinabs": _native_sinabs,
    "rockpool": _native_rockpool,
    "spyx": _native_spyx,
}
