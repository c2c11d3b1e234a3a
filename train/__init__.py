"""Training of SNNs with learned synaptic delays (DCLS) — needs torch (extra 'train')."""
