"""The trained PyTorch model, rebuilt from a checkpoint and evaluated with rounded delays.

This is the yardstick the converted network is proven against: the reference code's forward
pass (Thvnvtos/SNN-delays ``snn_delays.py``) with DCLS ``Dcls1d(version='max')``, SIG = 0 and
positions rounded half to even (``torch.round``), BatchNorm in eval mode, spikingjelly
``LIFNode(decay_input=False, v_reset=0, detach_reset=True)``, readout LIF with threshold 1e9
whose membrane sequence is the output. It uses the checkpoint's raw tensors (not the folded
ones), so it checks the converter rather than repeating it. Needs torch, dcls and spikingjelly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from delaykit.convert.trained_params import Checkpoint


class RoundedDelayModel:
    """``model(frames (T, C) or (T, B, C)) -> dict(output (T_out, B, n_out), spikes=[...])``."""

    def __init__(self, ck: Checkpoint, dtype: Any = None) -> None:
        import torch  # torch only for the PyTorch side
        from DCLS.construct.modules import Dcls1d
        from spikingjelly.activation_based import neuron

        self.torch = torch
        self.dtype = dtype or torch.float32
        self.k = ck.kernel_size
        self.blocks = []
        for lp in ck.layers:
            conv = Dcls1d(
                lp.n_in,
                lp.n_out,
                kernel_count=1,
                dilated_kernel_size=self.k,
                bias=lp.conv_bias is not None,
                version="max",
            )
            with torch.no_grad():
                conv.weight.copy_(torch.as_tensor(lp.weight[:, :, None]))
                conv.P.copy_(torch.as_tensor(lp.positions[None, :, :, None]))
                conv.clamp_parameters()
                conv.P.round_()
                conv.SIG.zero_()
                if lp.conv_bias is not None:
                    conv.bias.copy_(torch.as_tensor(lp.conv_bias))
            conv = conv.to(self.dtype).eval()
            bn = None
            if lp.bn is not None:
                bn = torch.nn.BatchNorm1d(lp.n_out, eps=float(lp.bn["eps"]))
                with torch.no_grad():
                    bn.weight.copy_(torch.as_tensor(lp.bn["gamma"]))
                    bn.bias.copy_(torch.as_tensor(lp.bn["beta"]))
                    bn.running_mean.copy_(torch.as_tensor(lp.bn["mean"]))
                    bn.running_var.copy_(torch.as_tensor(lp.bn["var"]))
                bn = bn.to(self.dtype).eval()
            vth = 1e9 if lp.v_threshold is None else float(lp.v_threshold)
            lif = neuron.LIFNode(
                tau=float(lp.tau_steps),
                v_threshold=vth,
                v_reset=float(lp.v_reset),
                decay_input=False,
                detach_reset=True,
                step_mode="m",
                store_v_seq=True,
            )
            self.blocks.append((conv, bn, lif, lp.v_threshold is None))

    def __call__(self, frames: np.ndarray) -> dict[str, Any]:
        """Run one sample (T, C) or a batch (T, B, C) of input frames; numpy in, numpy out."""
        import torch  # torch only for the PyTorch side
        import torch.nn.functional as F
        from spikingjelly.activation_based import functional

        x = torch.as_tensor(np.asarray(frames), dtype=self.dtype)
        if x.ndim == 2:
            x = x[:, None, :]
        left, right = self.k - 1, (self.k - 1) // 2
        spikes = []
        out = None
        with torch.no_grad():
            for conv, bn, lif, readout in self.blocks:
                functional.reset_net(lif)
                y = conv(F.pad(x.permute(1, 2, 0), (left, right)))  # (B, C_out, T')
                if bn is not None:
                    y = bn(y)
                y = y.permute(2, 0, 1).contiguous()  # (T', B, C_out)
                s = lif(y)
                if readout:
                    out = lif.v_seq.clone()
                else:
                    spikes.append(s.to(torch.uint8).numpy())
                    x = s
            if out is None:  # spiking readout: the spikes are the output
                out = x
        return {"output": out.to(torch.float64).numpy(), "spikes": spikes}


def softmax_sum_prediction(output: np.ndarray) -> np.ndarray:
    """argmax_c sum_t softmax(v_t) over the time axis 0; output (T, B, C) -> (B,)."""
    v = output - output.max(axis=-1, keepdims=True)
    e = np.exp(v)
    return np.argmax((e / e.sum(axis=-1, keepdims=True)).sum(axis=0), axis=-1)
