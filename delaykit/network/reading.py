"""How a network's numbers are meant to be read, when it is not the contract's neuron.

A network trained with Xylo's neuron (``delaykit train --target xylo``; the checkpoint's
``arch["xylo_neuron"] = True``) is stored as the contract's current-based neuron, but it means
the trained network only in Xylo's arithmetic: the current decays *before* the membrane sees
it, a neuron emits up to 31 events per step (inputs capped at 15 per channel and step), and
resets by subtraction (``hardware_targets/xylo_reference.py``). Read with the contract's own
neuron (current decayed after use, one event per step) it is a different network that
answers differently, without any error.

Conversion marks such a network with ``metadata["read_as"] = XYLO_READING``; ``.dkn`` files
keep the metadata. Every command that would run it -- or hand it to another tool -- with the
contract's neuron asks :func:`xylo_reading` first and refuses with :func:`xylo_refusal`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from delaykit.errors import DelaykitError

#: The metadata key that says how a network is to be read (absent: the contract's neuron).
READ_AS = "read_as"

#: How a network trained with Xylo's neuron is to be read (its ``metadata["read_as"]``).
XYLO_READING = (
    "xylo: run in Xylo's arithmetic (delaykit.hardware_targets.xylo_reference.run_xylo_mode) or on "
    "Xylo (convert to-xylo); the contract's float reading differs (current decayed after use, one "
    "event per step)"
)


#: What to run instead, for a command that would read such a network with the contract's neuron.
XYLO_FIX = (
    "run it in Xylo's arithmetic with delaykit sim MODEL.dkn --target xylo, or on Xylo with "
    "delaykit convert to-xylo MODEL --bits 8 and xylosim"
)


def with_xylo_reading(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``metadata`` that marks the network as read in Xylo's arithmetic when its
    ``arch`` says it was trained with Xylo's neuron (unchanged otherwise)."""
    out = dict(metadata)
    arch = out.get("arch")
    if isinstance(arch, Mapping) and arch.get("xylo_neuron"):
        out[READ_AS] = XYLO_READING
    return out


def xylo_reading(metadata: Any) -> str | None:
    """The metadata field that says the network is read in Xylo's arithmetic: ``"read_as"``
    (the marker), ``"arch.xylo_neuron"`` (a file converted before the marker existed), or
    None for a network read with the contract's neuron."""
    if not isinstance(metadata, Mapping):
        return None
    read_as = metadata.get(READ_AS)
    if isinstance(read_as, str) and read_as.split(":", 1)[0].strip().lower() == "xylo":
        return READ_AS
    arch = metadata.get("arch")
    if isinstance(arch, Mapping) and arch.get("xylo_neuron"):
        return "arch.xylo_neuron"
    return None


def xylo_refusal(path: Any, field: str, what: str, fix: str) -> DelaykitError:
    """The one-line refusal of ``what`` (e.g. ``"to-nir"``) for a network ``path`` marked by
    ``field`` (:func:`xylo_reading`); ``fix`` says what to run instead."""
    return DelaykitError(
        f"{path}: metadata field {field!r}: trained with Xylo's neuron, the network means what was "
        f"trained only in Xylo's arithmetic; {what} reads it with the contract's neuron (current "
        f"decayed after use, one event per step), a different network; {fix}"
    )


__all__ = ["READ_AS", "XYLO_FIX", "XYLO_READING", "with_xylo_reading", "xylo_reading", "xylo_refusal"]
