"""Training of SNNs with learned synaptic delays (DCLS) — needs torch (extra 'train').

The paper's model and optimisation (Hammouamri, Khalfaoui-Hassani, Masquelier, ICLR 2024;
reference code Thvnvtos/SNN-delays), fast on CPU, with exact resume, data-parallel scale-out
and hardware-aware fine-tuning. Modules (torch is imported only by these, never by this
package's ``__init__`` or ``cli``):

* ``model``: :class:`DelaySNN` (``Dcls1d`` parameters, BatchNorm, LIF, dropout, LI readout),
  float (training kernel) and rounded one-hot integer-delay evaluation;
* ``kernels``: numba kernels for the LIF recurrence and the DCLS gauss kernel;
* ``data``: SHD-schema and Google Speech Commands datasets, seed-determined global batches;
* ``config``: named configs (``shd``, ``ssc``, ``gsc``, ``delay-task``, ``tiny``), TOML/YAML
  files, ``--set section.key=value``;
* ``loop``: :func:`train_model` (``delaykit train``), ``checkpoint``: ``model.pt`` (interface A)
  and ``resume.pt``; ``plots``; ``finetune``: integer delays in a target's range and
  fake-quantized weights; ``acceptance``: the delay-task acceptance runs.

Typical use::

    delaykit data synth --out data/delay
    delaykit train --config delay-task --data-dir data/delay --out runs/delay
    delaykit train --config shd --data-dir data/shd --out runs/shd --set train.bf16=true
    torchrun --nproc_per_node 2 -m delaykit train --config shd --data-dir data/shd --out runs/ddp

or from Python ``delaykit.train.loop.train_model("delay-task", "data/delay", "runs/delay")``.
"""
