"""NIR graphs in and out, side by side (the ``nir`` package is imported when used).

- :func:`delaykit.nir.export_nir.write_nir` writes a deployed network as a NIR graph.
- :func:`delaykit.nir.import_nir.load_nir` reads a NIR graph (delaykit's or another tool's)
  into a deployed network.
"""
