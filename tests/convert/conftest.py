"""Shared fixture of the table/PyNN tests: the demo's int8 network."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_int8(tmp_path_factory):
    """(int8 Network, test .h5 with 120 samples): the demo's learned-delay model (config
    'delay-task', the demo's 2000 training samples and epochs; about 3 minutes on 2 busy cores)
    converted with 8-bit weights exactly as ``delaykit demo`` converts it."""
    pytest.importorskip("torch")
    pytest.importorskip("DCLS")
    from delaykit.convert.build import convert_checkpoint
    from delaykit.data.synth import write_delay_task_pair
    from delaykit.train.run import train_model

    d = tmp_path_factory.mktemp("demo_int8")
    _, test = write_delay_task_pair(d / "data", 2000, 120, seed=0)
    ckpt = train_model(
        "delay-task",
        d / "data",
        d / "learned",
        overrides=["model.kind=learned"],
        progress=False,
    )
    return convert_checkpoint(ckpt, bits=8), test
