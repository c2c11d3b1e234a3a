"""Hardware target profiles and constraint checking (numpy only, never torch)."""
