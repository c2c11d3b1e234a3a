"""Conversion of trained checkpoints to deployed networks and export formats.

``convert_checkpoint(path, target=None, bits=None, ...) -> Network`` is the one-call API.
Reading: :mod:`.checkpoint` (delaykit checkpoints, and which reader a file needs),
:mod:`.reference_code` (the paper's state dicts), :mod:`.trained_params` (what both return);
:mod:`.build` folds BatchNorm and rounds delays (:mod:`.delays`), :mod:`.quantize` fits a
hardware target. Exporters: ``delaykit.nir``, ``delaykit.tables``, :mod:`.onnx_export`,
:mod:`.netx_export`, :mod:`.pynn_export`; :mod:`.verify` proves the float network against
PyTorch. Nothing here imports torch at module level.
"""

from delaykit.convert.build import build_network, convert_checkpoint, load_any
from delaykit.convert.checkpoint import load_checkpoint
from delaykit.convert.reference_code import ReferenceOptions

__all__ = ["ReferenceOptions", "build_network", "convert_checkpoint", "load_any", "load_checkpoint"]
