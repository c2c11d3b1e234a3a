"""Each NIR tool's own network (the same layers, from the tool's own classes) and its own
NIR exporter; runs in the tool's environment (see ``nir_tool_maps``, no delaykit there).

Every layer is LIF with leak factor ``1 - 1/tau_steps`` and unit input gain, one spike per
step at most, the readout too (the prediction is the spike count); hard reset to 0 where the
tool has it, else the tool's own subtractive reset (sinabs, rockpool; contract v3
``reset="subtract"``). ``spec``: ``n_layers``, ``w{l}``/``b{l}`` (real units), ``tau_steps``,
``threshold``, ``dt`` (seconds), ``variant`` (:data:`VARIANTS`; ``tau_syn_steps`` for "cuba").
The result's ``info["reset"]`` says what the spiking neurons did on a spike ("zero",
"subtract", or None where no contract reset matches, e.g. snntorch's default delayed reset);
``info["readout"]`` is "li" where the output is the readout's membrane.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from nir_tool_maps import Result, _version, torch

#: The networks a tool builds from its own classes (not every tool has every one).
VARIANTS = {
    "lif": "LIF with hard reset (subtractive where the tool has only that), readout LIF too",
    "cuba": "the tool's current-based LIF (tau_syn_steps), no bias",
    "if": "the tool's IF (no leak), readout IF too",
    "li": "hidden LIF as 'lif', the tool's leaky integrator as the readout (membrane out)",
    "subtract": "LIF that subtracts the threshold on a spike",
    "zero": "LIF that resets to 0 on a spike (sinabs MembraneReset)",
    "default": "the tool's LIF with its own defaults (only tau and threshold set)",
}


def _variant(spec: dict) -> str:
    return str(spec.get("variant", "lif"))


def _spec_layers(spec: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    n = int(spec["n_layers"])
    return [(np.asarray(spec[f"w{i}"], np.float64), np.asarray(spec[f"b{i}"], np.float64)) for i in range(n)]


def _sj_neuron(spec: dict, neuron: Any) -> Any:
    th, tau, v = float(spec["threshold"]), float(spec["tau_steps"]), _variant(spec)
    if v == "cuba":  # c = c (1 - 1/tau_syn) + x; v = v (1 - 1/tau) + c
        c_decay = 1.0 - 1.0 / float(spec["tau_syn_steps"])
        return neuron.CUBALIFNode(c_decay=c_decay, v_decay=1.0 - 1.0 / tau, v_threshold=th, v_reset=0.0)
    if v == "if":
        return neuron.IFNode(v_threshold=th, v_reset=0.0)
    if v == "default":  # decay_input=True: input gain 1/tau (the weights are multiplied by tau)
        return neuron.LIFNode(tau=tau, v_threshold=th)
    return neuron.LIFNode(tau=tau, decay_input=False, v_threshold=th, v_reset=0.0)


def _native_spikingjelly(spec: dict, frames: np.ndarray) -> tuple[Result, Any]:
    from spikingjelly.activation_based import functional, layer, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    gain = float(spec["tau_steps"]) if _variant(spec) == "default" else 1.0
    mods: list[torch.nn.Module] = []
    for w, b in _spec_layers(spec):
        lin = layer.Linear(w.shape[1], w.shape[0], bias=True)
        lin.weight.data, lin.bias.data = torch.as_tensor(w * gain), torch.as_tensor(b * gain)
        mods += [lin, _sj_neuron(spec, neuron)]
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
    return _native_result("spikingjelly", out, "float64", "zero"), graph


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


def _native_result(
    tool: str, spikes: dict[str, np.ndarray], dtype: str, reset: str | None, readout: str = "spikes"
) -> Result:
    last = spikes.pop(f"layer{len(spikes) - 1}")
    info = {"tool": tool, "version": _version(tool), "dtype": dtype, "reset": reset, "readout": readout}
    return Result(last.astype(np.float64), spikes, info)


def _linear(w: np.ndarray, b: np.ndarray, gain: float = 1.0) -> torch.nn.Linear:
    lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=True)
    lin.weight.data = torch.as_tensor(w * gain, dtype=torch.float32)
    lin.bias.data = torch.as_tensor(b * gain, dtype=torch.float32)
    return lin


def _norse_neuron(spec: dict, n: int, last: bool) -> tuple[torch.nn.Module, float]:
    """A norse cell for one layer and the factor its weights need for unit input gain."""
    from norse.torch import (
        IAFCell,
        IAFParameters,
        LIBoxCell,
        LIBoxParameters,
        LIFBoxCell,
        LIFBoxParameters,
        LIFCell,
        LIFParameters,
    )

    tau, dt, v = float(spec["tau_steps"]), float(spec["dt"]), _variant(spec)
    th, zero = torch.full((n,), float(spec["threshold"])), torch.zeros(n)
    tau_inv = torch.full((n,), 1.0 / (tau * dt))
    if v == "if":
        return IAFCell(IAFParameters(v_th=th, v_reset=zero), dt=dt), 1.0
    if v == "li" and last:  # LIBoxCell: v += dt/tau (v_leak - v + x)
        return LIBoxCell(LIBoxParameters(tau_mem_inv=tau_inv, v_leak=zero), dt=dt), tau
    if v == "cuba":  # LIFCell: v += dt/tau (v_leak - v + i); i = i (1 - dt/tau_syn) + x
        syn_inv = torch.full((n,), 1.0 / (float(spec["tau_syn_steps"]) * dt))
        p = LIFParameters(tau_syn_inv=syn_inv, tau_mem_inv=tau_inv, v_leak=zero, v_th=th, v_reset=zero)
        return LIFCell(p, dt=dt), tau
    p = LIFBoxParameters(tau_mem_inv=tau_inv, v_th=th, v_leak=zero, v_reset=zero)
    return LIFBoxCell(p, dt=dt), tau  # LIFBoxCell has gain dt/tau: weights x tau/dt


def _native_norse(spec: dict, frames: np.ndarray) -> tuple[Result, Any]:
    from norse.torch import SequentialState
    from norse.torch.utils.export_nir import to_nir

    layers = _spec_layers(spec)
    mods: list[torch.nn.Module] = []
    for i, (w, b) in enumerate(layers):
        cell, gain = _norse_neuron(spec, w.shape[0], i == len(layers) - 1)
        mods += [_linear(w, b, gain), cell]
    x = torch.as_tensor(frames, dtype=torch.float32)
    graph = to_nir(SequentialState(*mods), x[:1, 0], dt=float(spec["dt"]))
    readout = "li" if _variant(spec) == "li" else "spikes"
    return _native_result("norse", _run_layers(mods, x, stateful=True), "float32", "zero", readout), graph


def _native_snntorch(spec: dict, frames: np.ndarray) -> tuple[Result, Any]:
    import snntorch as snn
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    beta, v = 1.0 - 1.0 / float(spec["tau_steps"]), _variant(spec)
    reset: str | None = {"subtract": "subtract", "default": None}.get(v, "zero")
    mods: list[torch.nn.Module] = []
    for w, b in _spec_layers(spec):
        n = w.shape[0]  # per-neuron beta and threshold: its exporter types a scalar as shape []
        kw: dict[str, Any] = {"threshold": torch.full((n,), float(spec["threshold"])), "init_hidden": True}
        if v != "default":  # its default: subtract, one step late (reset_delay=True)
            kw.update(reset_mechanism=reset, reset_delay=False)
        if v == "cuba":  # Synaptic: syn = alpha syn + x; mem = beta mem + syn
            alpha = torch.full((n,), 1.0 - 1.0 / float(spec["tau_syn_steps"]))
            lif = snn.Synaptic(alpha=alpha, beta=torch.full((n,), beta), **kw)
        else:
            lif = snn.Leaky(beta=torch.full((n,), beta), **kw)
        mods += [_linear(w, b), lif]
    net = torch.nn.Sequential(*mods)
    x = torch.as_tensor(frames, dtype=torch.float32)
    graph = export_to_nir(net, x[0, 0])
    utils.reset(net)
    return _native_result("snntorch", _run_layers(mods, x, stateful=False), "float32", reset), graph


def _exp_tau(tau_steps: float) -> float:
    """The exact-decay time constant (steps) with the factor 1 - 1/tau_steps."""
    return -1.0 / float(np.log(1.0 - 1.0 / tau_steps))


def _sinabs_neuron(spec: dict, n: int, t: int, last: bool) -> torch.nn.Module:
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, MembraneSubtract, SingleSpike

    tau, v = torch.full((n,), _exp_tau(float(spec["tau_steps"]))), _variant(spec)
    th = torch.full((n,), float(spec["threshold"]))
    reset_fn = MembraneReset() if v == "zero" else MembraneSubtract()
    if v == "li" and last:
        return sl.ExpLeakSqueeze(tau_mem=tau, num_timesteps=t)
    if v == "default":  # MultiSpike, MembraneSubtract, norm_input=True
        return sl.LIFSqueeze(tau_mem=tau, spike_threshold=th, num_timesteps=t)
    if v == "if":
        return sl.IAFSqueeze(spike_threshold=th, spike_fn=SingleSpike, reset_fn=reset_fn, num_timesteps=t)
    return sl.LIFSqueeze(  # one spike per step; sinabs' own reset (subtract) or MembraneReset
        tau_mem=tau,
        spike_threshold=th,
        spike_fn=SingleSpike,
        reset_fn=reset_fn,
        norm_input=False,
        num_timesteps=t,
    )


def _native_sinabs(spec: dict, frames: np.ndarray) -> tuple[Result, Any]:
    import sinabs

    b, t = frames.shape[:2]
    layers = _spec_layers(spec)
    mods: list[torch.nn.Module] = []
    for i, (w, bias) in enumerate(layers):
        mods += [_linear(w, bias), _sinabs_neuron(spec, w.shape[0], t, i == len(layers) - 1)]
    net = torch.nn.Sequential(*mods)
    x = torch.as_tensor(frames, dtype=torch.float32).reshape(b * t, -1)
    spikes, h = {}, x
    with torch.no_grad():
        for i in range(0, len(mods), 2):
            h = mods[i + 1](mods[i](h))
            spikes[f"layer{i // 2}"] = h.reshape(b, t, -1).double().numpy()
    graph = sinabs.to_nir(net, x[:t])
    v = _variant(spec)
    reset, readout = ("zero" if v == "zero" else "subtract"), ("li" if v == "li" else "spikes")
    result = _native_result("sinabs", spikes, "float32", reset, readout)
    result.info["one_spike"] = v != "default"  # MultiSpike
    return result, graph


def _rockpool_neuron(spec: dict, n: int, tau_s: float, last: bool) -> Any:
    """LIFNeuronTorch (subtractive reset), LIFTorch for "cuba" (``i = b (i + x)``, ``v = a v +
    i``) or an ExpSynTorch readout for "li" (``v = a (v + x)``); one spike per step."""
    from rockpool.nn.modules import ExpSynTorch, LIFNeuronTorch, LIFTorch

    dt, th = float(spec["dt"]), torch.full((n,), float(spec["threshold"]))
    if _variant(spec) == "li" and last:
        syn = ExpSynTorch(shape=(n,), tau=torch.full((n,), tau_s), dt=dt)
        syn.tau.requires_grad_(False)  # its exporter writes tau without detaching it
        return syn
    if _variant(spec) == "default":  # LIFTorch with its own tau_syn, up to 2**16 spikes per step
        return LIFTorch(shape=(n,), tau_mem=torch.full((n,), tau_s), threshold=th, dt=dt)
    if _variant(spec) == "cuba":
        syn = _exp_tau(float(spec["tau_syn_steps"])) * dt
        return LIFTorch(
            shape=(n,), tau_mem=torch.full((n,), tau_s), tau_syn=torch.full((n,), syn),
            threshold=th, dt=dt, max_spikes_per_dt=1,
        )  # fmt: skip
    return LIFNeuronTorch(
        shape=(n,), tau_mem=torch.full((n,), tau_s), threshold=th, dt=dt, max_spikes_per_dt=1
    )


def _native_rockpool(spec: dict, frames: np.ndarray) -> tuple[Result, Any]:
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LinearTorch
    from rockpool.nn.modules.torch.nir import to_nir

    tau, dt = _exp_tau(float(spec["tau_steps"])), float(spec["dt"])
    mods = []
    layers = _spec_layers(spec)
    for i, (w, b) in enumerate(layers):
        n_out, n_in = w.shape
        lin = LinearTorch(
            shape=(n_in, n_out),
            weight=torch.as_tensor(w.T, dtype=torch.float32),
            bias=torch.as_tensor(b, dtype=torch.float32),
            has_bias=True,
        )
        mods += [lin, _rockpool_neuron(spec, n_out, tau * dt, i == len(layers) - 1)]
    net = Sequential(*mods)
    spikes, h = {}, torch.as_tensor(frames, dtype=torch.float32)
    with torch.no_grad():
        for i in range(0, len(mods), 2):
            h, _, _ = mods[i](h)
            h, _, _ = mods[i + 1](h)
            spikes[f"layer{i // 2}"] = np.asarray(h.detach(), dtype=np.float64)
    graph = to_nir(net, torch.zeros((1, int(_spec_layers(spec)[0][0].shape[1]))))
    readout = "li" if _variant(spec) == "li" else "spikes"
    result = _native_result("rockpool", spikes, "float32", "subtract", readout)
    result.info["one_spike"] = _variant(spec) != "default"
    return result, graph


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
    info = {"tool": "spyx", "version": _version("spyx"), "dtype": "float32", "reset": "subtract"}
    return Result(np.asarray(out, dtype=np.float64), {}, info), graph


NATIVE = {
    "spikingjelly": _native_spikingjelly,
    "norse": _native_norse,
    "snntorch": _native_snntorch,
    "sinabs": _native_sinabs,
    "rockpool": _native_rockpool,
    "spyx": _native_spyx,
}
