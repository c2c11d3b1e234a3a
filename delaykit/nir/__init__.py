"""NIR graphs in and out, side by side (the ``nir`` package is imported when used).

- :func:`delaykit.nir.export_nir.write_nir` writes a deployed network as a NIR graph.
- :func:`delaykit.nir.import_nir.load_nir` reads a NIR graph (delaykit's or another tool's)
  into a deployed network.

Their steps: :mod:`~delaykit.nir.graph` (walking a graph, composing linear ops and delays),
:mod:`~delaykit.nir.neurons` (neuron models, both directions), :mod:`~delaykit.nir.metadata`
(delaykit's lossless metadata) and :mod:`~delaykit.nir.fields` (reading node fields).
"""
