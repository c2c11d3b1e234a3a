"""Conversion of trained checkpoints to deployed networks and export formats.

``convert_checkpoint(path, target=None, bits=None, ...) -> Network`` is the one-call API;
exporters: :mod:`delaykit.nir`, :mod:`.onnx_export`, :mod:`.netx_export`, ``delaykit.tables``.
Nothing here imports torch at module level.
"""

from delaykit.convert.build import build_network, convert_checkpoint, load_any
from delaykit.convert.checkpoint import ReferenceOptions, load_checkpoint

__all__ = ["ReferenceOptions", "build_network", "convert_checkpoint", "load_any", "load_checkpoint"]
