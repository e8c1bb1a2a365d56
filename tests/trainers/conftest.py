import numpy as np
import optax
import pytest
from flax import nnx
from sklearn.datasets import load_digits

from hyperflax.models import MLP
from hyperflax.trainers import Trainer


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """300 digits samples: features in [0, 1] as float32, labels int32."""
    data = load_digits()
    return (data.data[:300] / 16.0).astype(np.float32), data.target[:300].astype(np.int32)


def _make_trainer(
    *,
    hidden: tuple[int, ...] = (32,),
    learning_rate: float = 1e-2,
    dropout: float = 0.0,
    metrics: tuple[str, ...] = ("accuracy",),
    seed: int = 0,
    **kwargs: object,
) -> Trainer:
    """A digits MLP trainer; every test using the defaults shares one compiled program."""
    model = MLP(64, 10, list(hidden), dropout=dropout, rngs=nnx.Rngs(seed))
    optimizer = optax.inject_hyperparams(optax.adamw)(learning_rate=learning_rate)
    return Trainer(model, optimizer, "cross_entropy", metrics, seed=seed, **kwargs)


@pytest.fixture
def make_trainer() -> object:
    """Factory for digits MLP trainers (see ``_make_trainer``)."""
    return _make_trainer
