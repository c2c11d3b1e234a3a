import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator: tests never change with the run."""
    return np.random.default_rng(1234)
