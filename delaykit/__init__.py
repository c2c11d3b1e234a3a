"""delaykit: spiking neural networks with learned synaptic delays, from training to hardware.

The numpy-only core lives here (the deployed-network contract, data readers, the CLI);
``delaykit.train`` needs torch, ``delaykit.convert`` reads torch checkpoints, while
``delaykit.sim`` and ``delaykit.hardware_targets`` never import torch.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
