"""The digits data and search space shared by the search benchmarks."""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def digits_split(seed: int = 0):
    """Train and validation splits of scikit-learn's digits, scaled to [0, 1]."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return train_test_split(x, y.astype(np.int32), test_size=0.2, random_state=seed, stratify=y)
