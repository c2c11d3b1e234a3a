"""Simulation of deployed integer-delay networks (numpy only, never torch)."""
