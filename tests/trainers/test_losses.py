import jax.numpy as jnp
import numpy as np
import pytest

from hyperflax.trainers import LOSSES


@pytest.mark.parametrize(
    ("name", "predictions", "targets", "expected"),
    [
        ("cross_entropy", [[0.0, 0.0]], [1], [np.log(2.0)]),
        ("binary_cross_entropy", [[0.0], [0.0]], [1, 0], [np.log(2.0)] * 2),
        ("mse", [[1.0, 3.0]], [[0.0, 0.0]], [5.0]),
        ("mae", [[1.0, -3.0]], [[0.0, 0.0]], [2.0]),
        ("huber", [[0.5], [3.0]], [0.0, 0.0], [0.125, 2.5]),
    ],
)
def test_losses_are_per_example(name, predictions, targets, expected):
    got = LOSSES[name](jnp.asarray(predictions), jnp.asarray(targets))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
