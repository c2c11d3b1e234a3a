"""Conversion of trained checkpoints to deployed networks and export formats."""
