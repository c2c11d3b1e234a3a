"""Shared fixture of the table/PyNN tests: the demo's int8 network."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_int8(tmp_path_factory):
    """(int8 Network, test .h5 with 120 samples): the demo's learned-delay model converted with
    8-bit weights exactly as ``delaykit demo`` converts it (config 'delay-task'), trained on
    1000 samples for 10 epochs instead of the demo's 2000 for 20 (2-5 minutes on a busy 2-core
    machine; exactness does not need a finished training). The measured figures in docs/tables.md come from the full
    recipe (benchmarks/bench_pynn.py --train)."""
    pytest.importorskip("torch")
    pytest.importorskip("DCLS")
    from delaykit.convert.build import convert_checkpoint
    from delaykit.data.synth import write_delay_task_pair
    from delaykit.train.run import train_model

    d = tmp_path_factory.mktemp("demo_int8")
    _, test = write_delay_task_pair(d / "data", 1000, 120, seed=0)
    ckpt = train_model(
        "delay-task",
        d / "data",
        d / "learned",
        overrides=["model.kind=learned", "train.epochs=10"],
        progress=False,
    )
    return convert_checkpoint(ckpt, bits=8), test
