"""Read trained models: delaykit checkpoints and the paper's reference-code state dicts.

Two inputs are understood (DESIGN.md section 2):

* a **delaykit checkpoint** (``torch.save`` of a dict with ``format == "delaykit.checkpoint"``,
  written by ``delaykit train``): the architecture is in ``arch``;
* a **reference-code state dict** (Thvnvtos/SNN-delays ``torch.save(model.state_dict())``):
  ``model.{i}.weight`` (out, in, 1) / ``model.{i}.P`` (1, out, in, 1) / ``model.{i}.SIG`` per
  Dcls1d, BatchNorm ``weight/bias/running_mean/running_var`` after each hidden Dcls1d,
  optional ParametricLIF ``w``. The architecture is inferred from tensor shapes; time
  constants, threshold, step and kernel size come from :class:`ReferenceOptions` (defaults:
  the paper's SHD values).

Files are opened with ``torch.load(weights_only=True)`` only. torch is imported inside the
functions, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError, FormatError

CHECKPOINT_FORMAT = "delaykit.checkpoint"
CHECKPOINT_VERSIONS = (1,)


@dataclass(frozen=True)
class ReferenceOptions:
    """What a reference-code state dict does not store (defaults: the paper's SHD run).

    tau_ms: membrane time constant in ms (``init_tau`` of best_config_SHD.py: 10.05 ms).
    dt_ms: simulation step in ms (``time_step``: 10 ms).
    kernel_size: DCLS dilated kernel size K in steps; None = ``250 ms // dt`` made odd
    (the reference code's ``max_delay``).
    v_threshold: hidden LIF threshold (1.0). output_v_threshold: readout threshold; >= 1e8
    means "never spikes" (the paper's 1e9, deployed as a non-spiking LI readout).
    bn_eps: BatchNorm epsilon (1e-5, PyTorch's default).
    window_ms: fixed input window per sample in ms (1400 ms covers every SHD/SSC sample).
    n_units / channel_group: raw input units and units summed per channel (700 / 5 for SHD).
    """

    tau_ms: float = 10.05
    dt_ms: float = 10.0
    kernel_size: int | None = None
    v_threshold: float = 1.0
    output_v_threshold: float = 1e9
    bn_eps: float = 1e-5
    window_ms: float = 1400.0
    n_units: int | None = None
    channel_group: int = 5

    def resolved_kernel_size(self) -> int:
        if self.kernel_size is not None:
            return int(self.kernel_size)
        k = int(250.0 // self.dt_ms)
        return k if k % 2 == 1 else k + 1


@dataclass
class LayerParams:
    """The trained tensors of one Dcls1d layer (float64 numpy, squeezed).

    weight: (out, in). positions: (out, in) DCLS P in steps. sig: (out, in) or None.
    conv_bias: (out,) or None. bn: dict with gamma, beta, mean, var (out,) and eps, or None.
    tau_steps: per-layer membrane tau in steps (scalar; ParametricLIF learns it).
    v_threshold: LIF threshold; None for the non-spiking readout.
    """

    name: str
    weight: np.ndarray
    positions: np.ndarray
    sig: np.ndarray | None
    conv_bias: np.ndarray | None
    bn: dict[str, Any] | None
    tau_steps: float
    v_threshold: float | None
    v_reset: float = 0.0

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])


@dataclass
class Checkpoint:
    """A trained model, independent of where it came from.

    kind: "delaykit" or "reference". dt: step in seconds. kernel_size: K in steps.
    arch: the (resolved) architecture dict, interface-A keys. sha256: of the source file.
    """

    path: str
    sha256: str
    kind: str
    dt: float
    kernel_size: int
    layers: list[LayerParams]
    arch: dict[str, Any]
    n_units: int
    channel_group: int
    window_steps: int
    readout: str = "softmax_sum"
    metrics: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].n_in] + [lay.n_out for lay in self.layers]


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def torch_load_safe(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True, map_location='cpu')`` with errors a user can act on."""
    import pickle

    import torch

    p = Path(path)
    if not p.exists():
        raise DelaykitError(f"{p}: no such file")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        why = next(
            (ln for ln in lines if "Unsupported global" in ln or "Unpickler error" in ln),
            lines[0] if lines else type(e).__name__,
        )
        why = re.sub(r"\x1b\[[0-9;]*m", "", why)
        raise FormatError(
            f"{p}: cannot be loaded with torch.load(weights_only=True) ({why[:200]}). It holds "
            "Python objects beyond tensors and plain containers (e.g. a whole pickled nn.Module). "
            "If you trust the file, re-save only its state dict: "
            "torch.save(torch.load(path, weights_only=False).state_dict(), 'state.pt'), "
            "then convert state.pt"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FormatError(
            f"{p}: not a PyTorch checkpoint readable by torch.load ({msg[:200]}); expected a "
            "delaykit model.pt or a state_dict saved by the paper's reference code"
        ) from None


def _np(t: Any, where: str) -> np.ndarray:
    try:
        import torch

        if isinstance(t, torch.Tensor):
            return t.detach().to(torch.float64).cpu().numpy()
    except ImportError:  # pragma: no cover - torch is required to read checkpoints
        pass
    if isinstance(t, np.ndarray):
        return t.astype(np.float64)
    raise FormatError(f"{where}: expected a tensor, got {type(t).__name__}")


def _is_tensor(v: Any) -> bool:
    import torch

    return isinstance(v, torch.Tensor)


# ---- entry point ---------------------------------------------------------------------------


def load_checkpoint(
    path: str | Path,
    *,
    reference_code: bool | None = None,
    options: ReferenceOptions | None = None,
) -> Checkpoint:
    """Load a delaykit checkpoint or a reference-code state dict.

    reference_code: True forces reading a plain state dict, False requires a delaykit
    checkpoint, None (default) decides from the content. ``options`` apply to reference
    state dicts only (a delaykit checkpoint stores its own architecture).
    Raises FormatError/DelaykitError naming the file and what is missing.
    """
    p = Path(path)
    obj = torch_load_safe(p)
    sha = file_sha256(p)
    is_dk = isinstance(obj, Mapping) and obj.get("format") == CHECKPOINT_FORMAT
    if is_dk and reference_code:
        raise DelaykitError(
            f"{p}: is a delaykit checkpoint, not a reference-code state dict; drop --reference-code"
        )
    if is_dk:
        if options is not None and options != ReferenceOptions():
            raise DelaykitError(
                f"{p}: is a delaykit checkpoint, which stores its own tau, dt, threshold and kernel "
                "size; --tau-ms/--dt-ms/--kernel-size/--v-threshold apply to reference-code state "
                "dicts only"
            )
        return _from_delaykit(obj, str(p), sha)
    if reference_code is False:
        raise FormatError(
            f"{p}: not a delaykit checkpoint (no 'format': '{CHECKPOINT_FORMAT}' entry); for a "
            "state dict of the paper's reference code pass --reference-code"
        )
    sd = _unwrap_state_dict(obj, p)
    return _from_reference(sd, str(p), sha, options or ReferenceOptions())


# ---- delaykit checkpoints ------------------------------------------------------------------

_ARCH_REQUIRED = (
    "model",
    "n_inputs",
    "hidden",
    "n_classes",
    "kernel_size",
    "tau_steps",
    "v_threshold",
    "readout_tau_steps",
    "batchnorm",
    "dt",
)


def _from_delaykit(ck: Mapping[str, Any], path: str, sha: str) -> Checkpoint:
    version = ck.get("format_version")
    if version not in CHECKPOINT_VERSIONS:
        raise FormatError(
            f"{path}: checkpoint format_version {version!r} is not supported (supported: "
            f"{list(CHECKPOINT_VERSIONS)}); upgrade delaykit or re-train"
        )
    arch = ck.get("arch")
    if not isinstance(arch, Mapping):
        raise FormatError(f"{path}: checkpoint field 'arch' is missing or not a dict")
    missing = [k for k in _ARCH_REQUIRED if k not in arch]
    if missing:
        raise FormatError(f"{path}: checkpoint field 'arch' lacks {missing}")
    sd = ck.get("state_dict")
    if not isinstance(sd, Mapping):
        raise FormatError(f"{path}: checkpoint field 'state_dict' is missing or not a dict")
    hidden = [int(h) for h in arch["hidden"]]
    sizes = [int(arch["n_inputs"])] + hidden + [int(arch["n_classes"])]
    k = int(arch["kernel_size"])
    if k < 1:
        raise FormatError(f"{path}: arch field 'kernel_size' must be >= 1, got {k}")
    use_bn = bool(arch["batchnorm"])
    eps = float(arch.get("bn_eps", 1e-5))
    tau = float(arch["tau_steps"])
    tau_out = float(arch["readout_tau_steps"])
    vth = float(arch["v_threshold"])
    v_reset = float(arch.get("v_reset", 0.0))
    n_layers = len(sizes) - 1
    layers = []
    for i in range(n_layers):
        last = i == n_layers - 1
        where = f"{path}: state_dict"
        key_w = f"layers.{i}.weight"
        if key_w not in sd:
            raise FormatError(f"{where} lacks '{key_w}' (layer {i} of {n_layers} per arch)")
        w = _np(sd[key_w], f"{where}['{key_w}']")
        w = _squeeze_weight(w, f"{where}['{key_w}']")
        if w.shape != (sizes[i + 1], sizes[i]):
            raise FormatError(
                f"{where}['{key_w}'] has shape {w.shape[:2]} but arch says ({sizes[i + 1]}, {sizes[i]})"
            )
        key_p = f"layers.{i}.P"
        if key_p in sd:
            pos = _squeeze_positions(_np(sd[key_p], f"{where}['{key_p}']"), w.shape, f"{where}['{key_p}']")
        elif k == 1:
            pos = np.zeros_like(w)
        else:
            raise FormatError(f"{where} lacks '{key_p}' (delay positions of layer {i})")
        key_s = f"layers.{i}.SIG"
        sig = _np(sd[key_s], key_s).reshape(-1) if key_s in sd else None
        key_b = f"layers.{i}.bias"
        cb = _np(sd[key_b], key_b).reshape(-1) if key_b in sd else None
        bn = None
        if use_bn and not last:
            bn = _read_bn(sd, f"bn.{i}", w.shape[0], eps, where)
        layers.append(
            LayerParams(
                name=f"fc{i}" if not last else "readout",
                weight=w,
                positions=pos,
                sig=sig,
                conv_bias=cb,
                bn=bn,
                tau_steps=tau_out if last else tau,
                v_threshold=None if last else vth,
                v_reset=v_reset,
            )
        )
    readout = str(arch.get("readout", "softmax_sum"))
    dt = float(arch["dt"])
    window = int(arch.get("window_steps") or round(1.4 / dt))
    group = int(arch.get("channel_group", 1) or 1)
    n_units = int(arch.get("n_units") or sizes[0] * group)
    return Checkpoint(
        path=path,
        sha256=sha,
        kind="delaykit",
        dt=dt,
        kernel_size=k,
        layers=layers,
        arch=dict(arch),
        n_units=n_units,
        channel_group=group,
        window_steps=window,
        readout=readout,
        metrics=dict(ck.get("metrics") or {}),
        class_names=[str(c) for c in (ck.get("class_names") or [])],
        config=dict(ck.get("config") or {}),
        versions=dict(ck.get("versions") or {}),
    )


def _read_bn(sd: Mapping[str, Any], prefix: str, n: int, eps: float, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"eps": eps}
    for key, name in (
        ("weight", "gamma"),
        ("bias", "beta"),
        ("running_mean", "mean"),
        ("running_var", "var"),
    ):
        full = f"{prefix}.{key}"
        if full not in sd:
            raise FormatError(f"{where} lacks '{full}' (BatchNorm of a hidden layer)")
        v = _np(sd[full], full).reshape(-1)
        if v.shape != (n,):
            raise FormatError(f"{where}['{full}'] has {v.shape[0]} values, expected {n}")
        out[name] = v
    if (out["var"] < 0).any():
        raise FormatError(f"{where}['{prefix}.running_var'] has negative entries")
    return out


def _squeeze_weight(w: np.ndarray, where: str) -> np.ndarray:
    if w.ndim == 3 and w.shape[2] == 1:
        return w[:, :, 0]
    if w.ndim == 2:
        return w
    raise FormatError(
        f"{where} has shape {w.shape}; expected (out, in, 1) (Dcls1d with kernel_count=1). "
        "kernel_count > 1 (several taps per synapse) is not supported"
    )


def _squeeze_positions(p: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
    if p.shape == (1, *shape, 1):
        return p[0, :, :, 0]
    if p.shape == shape:
        return p
    raise FormatError(f"{where} has shape {p.shape}; expected (1, {shape[0]}, {shape[1]}, 1)")


# ---- reference-code state dicts ------------------------------------------------------------

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net")


def _unwrap_state_dict(obj: Any, p: Path) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise FormatError(
            f"{p}: holds a {type(obj).__name__}, not a checkpoint dict or a state dict; expected a "
            "delaykit model.pt or torch.save(model.state_dict()) of the paper's reference code"
        )
    if obj and all(_is_tensor(v) for v in obj.values()):
        return obj
    for key in _WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, Mapping) and inner and all(_is_tensor(v) for v in inner.values()):
            return inner
    keys = sorted(map(str, obj))[:8]
    raise FormatError(
        f"{p}: not a delaykit checkpoint (no 'format': '{CHECKPOINT_FORMAT}') and not a state dict "
        f"of tensors (top-level keys: {keys}); expected a delaykit model.pt or a reference-code "
        "state_dict"
    )


def _natural_key(s: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def _from_reference(sd: Mapping[str, Any], path: str, sha: str, opt: ReferenceOptions) -> Checkpoint:
    where = f"{path}: state dict"
    modules: dict[str, dict[str, Any]] = {}
    for key, value in sd.items():
        prefix, _, leaf = str(key).rpartition(".")
        modules.setdefault(prefix, {})[leaf] = value
    order = sorted(modules, key=_natural_key)
    # (kind, prefix) per module in network order
    seq: list[tuple[str, str]] = []
    for prefix in order:
        m = modules[prefix]
        if "P" in m and "weight" in m:
            seq.append(("dcls", prefix))
        elif "running_mean" in m:
            seq.append(("bn", prefix))
        elif set(m) == {"w"}:
            seq.append(("plif", prefix))
        elif set(m) <= {"num_batches_tracked"}:
            continue
        else:
            raise FormatError(
                f"{where}: module '{prefix}' with tensors {sorted(m)} is not part of a supported "
                "network (Dcls1d weight/P/SIG, BatchNorm1d, ParametricLIF w)"
            )
    dcls_idx = [i for i, (kind, _) in enumerate(seq) if kind == "dcls"]
    if not dcls_idx:
        raise FormatError(
            f"{where}: no Dcls1d layer found (no '<prefix>.P' next to '<prefix>.weight'); "
            f"keys start with {sorted(map(str, sd))[:6]}"
        )
    if dcls_idx[0] != 0:
        raise FormatError(f"{where}: '{seq[0][1]}' comes before the first Dcls1d layer")
    k = opt.resolved_kernel_size()
    if k < 1:
        raise DelaykitError(f"--kernel-size must be >= 1, got {k}")
    dt = opt.dt_ms / 1e3
    if not (math.isfinite(dt) and dt > 0):
        raise DelaykitError(f"--dt-ms must be a positive number of milliseconds, got {opt.dt_ms}")
    if opt.tau_ms < opt.dt_ms:
        raise DelaykitError(
            f"--tau-ms {opt.tau_ms} is shorter than --dt-ms {opt.dt_ms}; the reference code requires "
            "tau >= time_step"
        )
    tau_steps = (opt.tau_ms + 1e-9) / opt.dt_ms  # best_config_*.py: init_tau = (tau + 1e-9) / time_step
    layers: list[LayerParams] = []
    n_layers = len(dcls_idx)
    for li, start in enumerate(dcls_idx):
        end = dcls_idx[li + 1] if li + 1 < n_layers else len(seq)
        last = li == n_layers - 1
        prefix = seq[start][1]
        m = modules[prefix]
        w = _squeeze_weight(_np(m["weight"], f"{prefix}.weight"), f"{where}['{prefix}.weight']")
        pos = _squeeze_positions(_np(m["P"], f"{prefix}.P"), w.shape, f"{where}['{prefix}.P']")
        sig = _np(m["SIG"], f"{prefix}.SIG").reshape(-1) if "SIG" in m else None
        cb = _np(m["bias"], f"{prefix}.bias").reshape(-1) if "bias" in m else None
        if cb is not None and cb.shape != (w.shape[0],):
            raise FormatError(f"{where}['{prefix}.bias'] has {cb.size} values, expected {w.shape[0]}")
        if layers and layers[-1].n_out != w.shape[1]:
            raise FormatError(
                f"{where}['{prefix}.weight'] has {w.shape[1]} inputs but the previous layer has "
                f"{layers[-1].n_out} neurons: the tensors do not form a feedforward network"
            )
        bn = None
        tau = tau_steps
        for kind, pfx in seq[start + 1 : end]:
            if kind == "bn":
                if bn is not None:
                    raise FormatError(f"{where}: two BatchNorm modules after '{prefix}' ('{pfx}')")
                if last:
                    raise FormatError(
                        f"{where}: BatchNorm '{pfx}' after the readout layer '{prefix}' is not part "
                        "of the reference architecture"
                    )
                flat = {f"{pfx}.{leaf}": v for leaf, v in modules[pfx].items()}
                bn = _read_bn(flat, pfx, w.shape[0], opt.bn_eps, where)
            elif kind == "plif":
                wv = _np(modules[pfx]["w"], f"{pfx}.w").reshape(-1)
                if wv.size != 1:
                    raise FormatError(f"{where}['{pfx}.w'] must be a scalar (ParametricLIF)")
                tau = float(1.0 / (1.0 / (1.0 + math.exp(-float(wv[0])))))  # 1 / sigmoid(w)
        readout_spiking = opt.output_v_threshold < 1e8
        layers.append(
            LayerParams(
                name="readout" if last else f"fc{li}",
                weight=w,
                positions=pos,
                sig=sig,
                conv_bias=cb,
                bn=bn,
                tau_steps=tau,
                v_threshold=(opt.output_v_threshold if readout_spiking else None)
                if last
                else opt.v_threshold,
            )
        )
    if n_layers < 1:
        raise FormatError(f"{where}: needs at least one Dcls1d layer")
    n_in = layers[0].n_in
    group = int(opt.channel_group)
    n_units = int(opt.n_units) if opt.n_units is not None else n_in * group
    if math.ceil(n_units / group) != n_in:
        raise DelaykitError(
            f"{path}: first layer has {n_in} inputs but n_units {n_units} / channel_group {group} "
            f"gives {math.ceil(n_units / group)} channels; pass matching --n-units/--channel-group"
        )
    max_p = max(float(np.abs(lay.positions).max()) for lay in layers)
    if max_p > k // 2 + 0.5 + 1e-6:
        raise DelaykitError(
            f"{path}: positions reach |P| = {max_p:.2f} but kernel size {k} allows at most {k // 2}; "
            "pass the --kernel-size (max_delay) the model was trained with"
        )
    readout_rule = "spike_count" if opt.output_v_threshold < 1e8 else "softmax_sum"
    arch = {
        "model": "learned",
        "n_inputs": n_in,
        "hidden": [lay.n_out for lay in layers[:-1]],
        "n_classes": layers[-1].n_out,
        "kernel_size": k,
        "tau_steps": tau_steps,
        "v_threshold": opt.v_threshold,
        "v_reset": 0.0,
        "readout_tau_steps": layers[-1].tau_steps,
        "batchnorm": any(lay.bn is not None for lay in layers),
        "bn_eps": opt.bn_eps,
        "dt": dt,
        "n_units": n_units,
        "channel_group": group,
        "window_steps": int(round(opt.window_ms / opt.dt_ms)),
        "readout": readout_rule,
    }
    return Checkpoint(
        path=path,
        sha256=sha,
        kind="reference",
        dt=dt,
        kernel_size=k,
        layers=layers,
        arch=arch,
        n_units=n_units,
        channel_group=group,
        window_steps=arch["window_steps"],
        readout=readout_rule,
        options={"reference_code": asdict(opt)},
    )
