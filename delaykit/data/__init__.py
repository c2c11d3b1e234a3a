"""Data: SHD-schema readers, binning, synthetic tasks and downloads (numpy + h5py, no torch)."""

from delaykit.data.shd import BinSpec, SHDFile, bin_events, write_shd

__all__ = ["BinSpec", "SHDFile", "bin_events", "write_shd"]
