"""The paper's SNN with learned synaptic delays (Hammouamri et al., ICLR 2024), fast on CPU.

Per hidden layer: ``Dcls1d`` (dcls 0.1.1, ``kernel_count=1``, ``bias=False``) → BatchNorm1d →
LIF (spikingjelly ``LIFNode`` semantics, ``decay_input=False``, hard reset to 0,
``detach_reset=True``, ATan surrogate) → Dropout (one mask per sample for all steps, like
spikingjelly's multi-step ``Dropout``). Readout: ``Dcls1d`` → LIF with threshold 1e9 whose
membrane sequence is the output. Times are in **steps** of ``arch["dt"]`` seconds.

Each layer pads its input (time axis) left by ``K - 1`` and right by ``(K - 1) // 2`` steps,
so a layer with ``T`` input steps outputs ``T + (K - 1) // 2`` steps and the integer delay of a
synapse is ``(K - 1) // 2 - round(P)`` (``delaykit.convert.delays``).

The parameters live in real ``dcls.Dcls1d`` modules (so the state dict has the reference
names ``layers.{i}.weight|P|SIG`` and a reference checkpoint maps onto it), but the kernel
is built by :func:`delaykit.train.dcls_kernel.dcls_kernel` and the LIF runs in
:mod:`delaykit.train.lif`. Kernel modes:

* ``"train"``: the training kernel (``gauss`` for learned delays, ``max`` for the frozen
  random delays, a single tap for ``none``), with the current ``SIG``;
* ``"rounded"``: one tap per synapse at the rounded position holding exactly ``W`` — the
  paper's evaluation and what a deployed network computes.

The ``arch`` dict and the state-dict names are the checkpoint format (``docs/design.md``,
"The deployed-network contract"); the training model is described under "Training model".
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from delaykit.hardware_targets.xylo_spec import MAX_INPUT_COUNT as XYLO_MAX_INPUT_COUNT
from delaykit.train import cuba
from delaykit.train.dcls_kernel import dcls_kernel, rounded_delays
from delaykit.train.delay_conv import delay_conv
from delaykit.train.lif import lif_btn

MODEL_KINDS: tuple[str, ...] = ("learned", "random", "none")

ARCH_KEYS: tuple[str, ...] = (
    "model",
    "n_inputs",
    "hidden",
    "n_classes",
    "kernel_size",
    "tau_steps",
    "v_threshold",
    "v_reset",
    "readout_tau_steps",
    "batchnorm",
    "bn_eps",
    "dt",
    "n_units",
    "channel_group",
    "window_steps",
    "readout",
)


def validate_arch(arch: Mapping[str, Any], where: str = "arch") -> dict[str, Any]:
    """Check a checkpoint's ``arch`` dict and return a normalized copy (raises ValueError)."""
    missing = [k for k in ARCH_KEYS if k not in arch]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    a = dict(arch)
    cuba.validate_neuron_arch(a, where)  # optional neuron fields (train/cuba.py)
    if a["model"] not in MODEL_KINDS:
        raise ValueError(f"{where}: field 'model': must be one of {MODEL_KINDS}, got {a['model']!r}")
    k = int(a["kernel_size"])
    if k < 1 or k % 2 == 0:
        raise ValueError(f"{where}: field 'kernel_size': must be an odd number of steps >= 1, got {k}")
    if a["model"] == "none" and k != 1:
        raise ValueError(
            f"{where}: field 'kernel_size': model 'none' has no delays, so K must be 1 (got {k})"
        )
    a["kernel_size"] = k
    a["hidden"] = [int(h) for h in a["hidden"]]
    if any(h < 1 for h in a["hidden"]):
        raise ValueError(f"{where}: field 'hidden': layer sizes must be >= 1, got {a['hidden']}")
    for key in ("n_inputs", "n_classes", "n_units", "channel_group", "window_steps"):
        a[key] = int(a[key])
        if a[key] < 1:
            raise ValueError(f"{where}: field {key!r}: must be >= 1, got {a[key]}")
    for key in ("tau_steps", "readout_tau_steps"):
        a[key] = float(a[key])
        if a.get("xylo_neuron") and a[key] >= 1.0:
            continue  # Xylo's neuron (train/xylo.py) may forget within a step: tau = 2**0
        if not a[key] > 1.0:
            raise ValueError(f"{where}: field {key!r}: spikingjelly's LIF needs tau > 1 step, got {a[key]}")
    a["v_threshold"] = float(a["v_threshold"])
    a["v_reset"] = float(a["v_reset"])
    if a["v_reset"] != 0.0:
        raise ValueError(f"{where}: field 'v_reset': the paper's model resets to 0, got {a['v_reset']}")
    a["batchnorm"] = bool(a["batchnorm"])
    a["bn_eps"] = float(a["bn_eps"])
    a["dt"] = float(a["dt"])
    if a["readout"] != "softmax_sum":
        raise ValueError(f"{where}: field 'readout': only 'softmax_sum' is trained, got {a['readout']!r}")
    return a


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class DelaySNN(nn.Module):
    """Feedforward SNN with per-synapse learned delays (the checkpoint's state-dict names).

    ``forward(x)`` takes ``x (B, T, n_inputs)`` counts and returns the readout membrane
    sequence ``(T + (L+1) * (K-1)//2, B, n_classes)`` (time-major, like the reference code).
    """

    def __init__(
        self,
        arch: Mapping[str, Any],
        *,
        dropout: float = 0.0,
        surrogate_alpha: float = 5.0,
        readout_threshold: float = 1e9,
    ) -> None:
        super().__init__()
        from DCLS.construct.modules import Dcls1d  # the 'train' extra; imported when a model is built

        self.arch = validate_arch(arch)
        a = self.arch
        k = a["kernel_size"]
        sizes = [a["n_inputs"], *a["hidden"], a["n_classes"]]
        version = "gauss" if a["model"] == "learned" else "max"
        self.layers = nn.ModuleList(
            Dcls1d(n_in, n_out, kernel_count=1, dilated_kernel_size=k, bias=False, version=version)
            for n_in, n_out in zip(sizes[:-1], sizes[1:])
        )
        self.bn = (
            nn.ModuleList(nn.BatchNorm1d(h, eps=a["bn_eps"]) for h in a["hidden"]) if a["batchnorm"] else None
        )
        self.dropout = float(dropout)
        self.surrogate_alpha = float(surrogate_alpha)
        self.readout_threshold = float(readout_threshold)
        self.kernel_version = version
        self.kernel_mode = "train"  # "train" | "rounded"
        self.quantizer: Any = None  # optional callable(model, layer_index, kernel) -> kernel (fine-tuning)
        self.bf16 = False
        #: training delay convolution: auto | dense | spectral (train/delay_conv.py)
        self.conv_mode = "auto"
        #: optional replacement for BatchNorm, called as (bn, x, layer_index): data-parallel runs
        #: sync the statistics, fine-tuning folds it into the quantized weights
        self.bn_forward: Any = None
        #: optional per-hidden-layer thresholds (fine-tuning uses the quantized ones)
        self.thresholds: list[float] | None = None
        #: False for a synaptic current, another reset or leak (train/cuba.py runs those)
        self.paper_neuron = cuba.is_paper_neuron(a)
        if cuba.neuron_of(a)["tau_syn_learnable"]:  # one tau_syn (steps) per layer
            self.tau_syn = nn.Parameter(torch.full((len(self.layers),), float(a["tau_syn_steps"])))
        for layer in self.layers:
            layer.SIG.requires_grad_(False)
            if a["model"] != "learned":
                layer.P.requires_grad_(False)

    # -- parameters ----------------------------------------------------------------------
    @property
    def kernel_size(self) -> int:
        """K: kernel taps (steps); delays are 0..K-1."""
        return int(self.arch["kernel_size"])

    @property
    def n_layers(self) -> int:
        """Number of delay layers (hidden layers + readout)."""
        return len(self.layers)

    def position_parameters(self) -> list[nn.Parameter]:
        """The learned delay positions P (none for fixed delays)."""
        return [layer.P for layer in self.layers if layer.P.requires_grad]

    def weight_parameters(self) -> list[nn.Parameter]:
        """The synaptic weights of every layer."""
        return [layer.weight for layer in self.layers]

    def neuron_parameters(self) -> list[nn.Parameter]:
        """Learned neuron constants (the per-layer ``tau_syn`` in steps, when learned)."""
        tau_syn = getattr(self, "tau_syn", None)
        return [tau_syn] if tau_syn is not None else []

    def bn_parameters(self) -> list[nn.Parameter]:
        """BatchNorm gains and biases."""
        return [] if self.bn is None else [p for bn in self.bn for p in bn.parameters()]

    def clamp_positions(self) -> None:
        """Clamp P to ``[-(K//2), K//2]`` (dcls ``clamp_parameters``)."""
        for layer in self.layers:
            layer.clamp_parameters()

    def sigma(self) -> float:
        """Current SIG of the readout layer (all layers share the schedule)."""
        return float(self.layers[-1].SIG.detach().reshape(-1)[0])

    def delays(self) -> list[torch.Tensor]:
        """Integer delays (steps) per layer as (out, in) int64 tensors."""
        return [rounded_delays(layer.P.detach()[0, ..., 0], self.kernel_size) for layer in self.layers]

    def output_steps(self, t_in: int) -> int:
        """Readout steps for ``t_in`` input steps (each layer adds (K-1)//2)."""
        return t_in + self.n_layers * ((self.kernel_size - 1) // 2)

    # -- forward -------------------------------------------------------------------------
    def kernel(self, i: int) -> torch.Tensor:
        """Layer ``i``'s conv kernel (out, in, K) in the current kernel mode, quantizer applied."""
        layer = self.layers[i]
        version = "rounded" if self.kernel_mode == "rounded" else self.kernel_version
        k = dcls_kernel(layer.weight, layer.P, layer.SIG, self.kernel_size, version)
        if self.quantizer is not None:
            k = self.quantizer(self, i, k)
        return k

    def _conv(self, h: torch.Tensor, kern: torch.Tensor) -> torch.Tensor:
        """Delay convolution of ``h (B, T, C)`` with ``kern (out, C, K)`` -> ``(B, T + (K-1)//2, out)``.

        :func:`delaykit.train.delay_conv.delay_conv`: the dense or spectral path per ``conv_mode``
        (same function, float rounding apart) while training and when evaluating the training
        kernel; rounded (one-hot, deployed) evaluation always runs dense, so it sums exactly what
        a deployed network sums. ``(B, T, C)`` with channels contiguous is what the data, the
        LIF kernels and BatchNorm use.
        """
        mode = self.conv_mode if self.training or self.kernel_mode == "train" else "dense"
        return delay_conv(h, kern, mode, bf16=self.bf16 and self.training)

    def _hidden(self, i: int, cur: torch.Tensor) -> torch.Tensor:
        """BatchNorm and LIF of hidden layer ``i`` on ``cur (B, T, N)``; returns spikes (B, T, N)."""
        if not self.paper_neuron:
            return cuba.hidden_forward(self, i, cur)
        if self.bn is not None:
            b, t, c = cur.shape
            flat = cur.reshape(b * t, c)  # statistics over batch and time, like BatchNorm1d on (B, C, T)
            flat = self.bn[i](flat) if self.bn_forward is None else self.bn_forward(self.bn[i], flat, i)
            cur = flat.reshape(b, t, c)
        th = self.arch["v_threshold"] if self.thresholds is None else self.thresholds[i]
        spikes, _ = lif_btn(cur, self.arch["tau_steps"], th, self.surrogate_alpha)
        return spikes

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        """The input counts in the weights' dtype; Xylo's neuron sees at most 15 events per
        channel and step, as Xylo's input does (``docs/xylo.md``, rule 1)."""
        h = x.to(self.layers[0].weight.dtype)
        return h.clamp(max=float(XYLO_MAX_INPUT_COUNT)) if self.arch.get("xylo_neuron") else h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Readout membranes (T', B, classes) of ``x (B, T, n_inputs)``; dropout while training."""
        if x.dim() != 3 or x.shape[2] != self.arch["n_inputs"]:
            raise ValueError(
                f"DelaySNN: input must be (batch, steps, {self.arch['n_inputs']}), got {tuple(x.shape)}"
            )
        h = self._input(x)  # (B, T, C): float32 unless model.double()
        n = self.n_layers
        for i in range(n - 1):
            spikes = self._hidden(i, self._conv(h, self.kernel(i)))
            if self.training and self.dropout > 0:
                # spikingjelly multi-step Dropout: one mask per sample and neuron for all steps
                mask = F.dropout(torch.ones_like(spikes[:, 0]), self.dropout, training=True)
                spikes = spikes * mask[:, None, :]
            h = spikes
        cur = self._conv(h, self.kernel(n - 1))
        return self._readout(cur).transpose(0, 1)  # (T', B, classes)

    def _readout(self, cur: torch.Tensor) -> torch.Tensor:
        """Readout membranes (B, T', classes) of ``cur (B, T', classes)``."""
        if not self.paper_neuron:
            return cuba.readout_forward(self, cur)
        _, out = lif_btn(cur, self.arch["readout_tau_steps"], self.readout_threshold, self.surrogate_alpha)
        return out

    def forward_spikes(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Like forward without dropout (current kernel mode); also returns hidden spikes (T_l, B, n_l)."""
        h = self._input(x)
        spikes_all = []
        n = self.n_layers
        for i in range(n - 1):
            h = self._hidden(i, self._conv(h, self.kernel(i)))
            spikes_all.append(h.transpose(0, 1))
        if not self.paper_neuron:
            return self._readout(self._conv(h, self.kernel(n - 1))).transpose(0, 1), spikes_all
        _, out = lif_btn(
            self._conv(h, self.kernel(n - 1)), self.arch["readout_tau_steps"], self.readout_threshold
        )
        return out.transpose(0, 1), spikes_all

    @contextlib.contextmanager
    def rounded(self) -> Iterator[DelaySNN]:
        """Evaluate with one-hot integer delays (the paper's 'max', SIG=0, rounded P)."""
        old = self.kernel_mode
        self.kernel_mode = "rounded"
        try:
            yield self
        finally:
            self.kernel_mode = old


def sum_softmax(v_seq: torch.Tensor) -> torch.Tensor:
    """The paper's 'sum' readout: ``sum_t softmax(v_t)`` over classes, (B, C) from (T, B, C)."""
    return torch.softmax(v_seq, dim=2).sum(0)


def loss_fn(v_seq: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy on ``sum_t softmax(v_t)`` used as logits (reference ``calc_loss``)."""
    return F.cross_entropy(sum_softmax(v_seq), labels, reduction=reduction)


def predict(v_seq: torch.Tensor) -> torch.Tensor:
    """argmax_c sum_t softmax(v_t)_c (contract readout 'softmax_sum')."""
    return sum_softmax(v_seq).argmax(1)


def init_model(model: DelaySNN, seed: int, *, init_pos: str = "uniform") -> None:
    """The reference initialisation (SnnDelays.init_model), deterministic from ``seed``.

    Weights: kaiming_uniform(relu). Positions: uniform(-K//2, K//2) with Python floor
    semantics (so (-13, 12) for K=25) then clamped; ``init_pos="zero"`` puts every delay at
    (K-1)//2. SIG: K//2 for learned delays, 0 otherwise (not learned).
    """
    g = torch.Generator().manual_seed(int(seed))
    k = model.kernel_size
    with torch.no_grad():
        for layer in model.layers:
            fan_in = layer.weight.shape[1] * layer.weight.shape[2]
            bound = math.sqrt(2.0) * math.sqrt(3.0 / fan_in)
            layer.weight.uniform_(-bound, bound, generator=g)
            if init_pos == "uniform":
                layer.P.uniform_(-k // 2, k // 2, generator=g)
            elif init_pos == "zero":
                layer.P.zero_()
            else:
                raise ValueError(f"init_pos: must be 'uniform' or 'zero', got {init_pos!r}")
            layer.clamp_parameters()
            layer.SIG.fill_(float(k // 2) if model.arch["model"] == "learned" else 0.0)
        if model.bn is not None:
            for bn in model.bn:
                bn.reset_parameters()


def build_model(
    arch: Mapping[str, Any],
    *,
    seed: int = 0,
    dropout: float = 0.0,
    surrogate_alpha: float = 5.0,
    init_pos: str = "uniform",
) -> DelaySNN:
    """Construct and initialize a :class:`DelaySNN` (a checkpoint's ``arch``)."""
    model = DelaySNN(arch, dropout=dropout, surrogate_alpha=surrogate_alpha)
    init_model(model, seed, init_pos=init_pos)
    return model


__all__ = [
    "ARCH_KEYS",
    "MODEL_KINDS",
    "DelaySNN",
    "build_model",
    "init_model",
    "loss_fn",
    "predict",
    "sum_softmax",
    "validate_arch",
]
