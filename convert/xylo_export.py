"""``delaykit convert to-xylo``: a deployed network as a SynSense Xylo Audio 2 spec folder.

The network is mapped by :func:`delaykit.hardware_targets.xylo_map.map_to_xylo` (hidden layers
and relay chains for the delays in Xylo's recurrent core; what Xylo cannot express is refused in
one line naming the layer and field) and written by
:func:`~delaykit.hardware_targets.xylo_spec.save_spec` (``spec.npz`` + ``manifest.json``, swapped
into place as a whole). ``manifest.json`` also records the mapping: the plan (neurons, relays,
connections against Xylo's limits), the readout latency in steps and each hidden layer's neuron
indices, so a reader can line Xylo's recordings up with the network's steps.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from delaykit.convert.build import convert_checkpoint
from delaykit.errors import DelaykitError
from delaykit.fileio import write_text_atomic
from delaykit.hardware_targets.xylo_map import XyloMapping, map_to_xylo
from delaykit.hardware_targets.xylo_spec import save_spec
from delaykit.network import Network
from delaykit.network.reading import READ_AS, XYLO_READING

#: The file a spec folder holds that marks it as one (for refusing foreign folders).
MARKER = "spec.npz"


def _mapping_facts(net: Network, m: XyloMapping) -> dict[str, Any]:
    p = m.plan
    return {
        "layers": [layer.name for layer in net.layers],
        "hidden_layer_neurons": [[int(i) for i in idx] for idx in m.layer_index],
        "readout_latency_steps": p.latency,
        "layer_latency_steps": 1,
        "n_main": p.n_main,
        "n_relays": p.n_relays,
        "recurrent_connections": p.rec_connections,
        "max_fan_out": p.max_fan_out,
        "note": "hidden layer l runs l steps and the readout readout_latency_steps steps after the "
        "network's time; delays are relay chains (dash_mem 0, dash_syn 1, threshold 1, weight 2, self -1)",
    }


def xylo_network(checkpoint: str | Path, bits: int = 8) -> Network:
    """A checkpoint trained for Xylo (``delaykit train --target xylo``) as the integer contract
    network :func:`map_to_xylo` takes: weights quantized to ``bits`` (one scale per layer, as
    fine-tuning fake-quantized them), delays kept (Xylo realizes them as relay chains).

    Refuses a checkpoint not trained with Xylo's neuron: its numbers would mean something else
    on Xylo (``train/xylo.py``). The network's metadata says how it is to be read.
    """
    net = convert_checkpoint(checkpoint, bits=bits)  # no target: Xylo's delays are relays, not native
    if not net.metadata.get("arch", {}).get("xylo_neuron"):
        raise DelaykitError(
            f"{checkpoint}: not trained with Xylo's neuron; train it with delaykit train --target xylo "
            f"(e.g. --config delay-task-xylo)"
        )
    meta = {**net.metadata, READ_AS: XYLO_READING}  # conversion marks it too
    return replace(net, metadata=meta)


def write_xylo(net: Network, folder: Path) -> str:
    """Map ``net`` and write the spec folder; returns the plan's summary line for the log."""
    m = map_to_xylo(net)
    save_spec(m.spec, folder)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["mapping"] = _mapping_facts(net, m)
    write_text_atomic(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return m.plan.lines()[0]
