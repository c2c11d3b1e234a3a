"""Training of SNNs with learned synaptic delays (DCLS) — needs torch (extra 'train').

The paper's model and optimisation (Hammouamri, Khalfaoui-Hassani, Masquelier, ICLR 2024;
reference code Thvnvtos/SNN-delays), fast on CPU, with exact resume, data-parallel scale-out
and hardware-aware fine-tuning. Modules (torch is imported only by these, never by this
package's ``__init__`` or ``cli``):

* ``model``: :class:`DelaySNN` (``Dcls1d`` parameters, BatchNorm, LIF, dropout, LI readout),
  float (training kernel) and rounded one-hot integer-delay evaluation; ``dcls_kernel``: the
  DCLS kernel construction; ``lif``: the LIF recurrence; ``kernels``: their numba kernels;
  ``delay_conv``: the delay convolution, dense or spectral, chosen per layer; ``cpu``: bf16,
  thread and memory settings from what the CPU computes fast;
* ``data``: SHD-schema and Google Speech Commands datasets, seed-determined global batches;
* ``config``: named configs (``shd``, ``ssc``, ``gsc``, ``delay-task``, ``tiny``), TOML/YAML
  files, ``section.key=value`` overrides;
* ``run``: :func:`train_model` (``delaykit train``: train, save, plot, fine-tune), built on
  ``loop`` (the epochs), ``optim`` (optimizers, schedules, σ annealing), ``evaluation``,
  ``resume`` (exact resume), ``distributed`` (data-parallel scale-out), ``checkpoint``
  (``model.pt`` and ``resume.pt``) and ``plots``; ``finetune``: integer delays in a target's
  range and fake-quantized weights; ``acceptance``: the delay-task acceptance runs.

The training model is described in ``docs/design.md`` ("Training model").

Typical use::

    delaykit data synth --out data/delay
    delaykit train --config delay-task --data-dir data/delay --out runs/delay
    delaykit train --config shd --data-dir data/shd --out runs/shd  # add --set train.bf16=true on AVX512_BF16/AMX CPUs
    torchrun --nproc_per_node 2 -m delaykit train --config shd --data-dir data/shd --out runs/ddp

or from Python ``delaykit.train.run.train_model("delay-task", "data/delay", "runs/delay")``.
"""
