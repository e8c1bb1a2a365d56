import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hyperflax.automl._image_space import scale_by_warmup_cosine


@pytest.mark.parametrize("total", [20, 100, 1000])
def test_the_schedule_of_data_length_follows_optax_warmup_cosine(total):
    reference = optax.warmup_cosine_decay_schedule(
        0.0, 1.0, max(1, int(0.05 * total)), total, end_value=0.02
    )
    tx = scale_by_warmup_cosine(total)
    state = tx.init({"w": jnp.ones(1)})
    factors = []
    for _ in range(total + 5):
        updates, state = tx.update({"w": jnp.ones(1)}, state)
        factors.append(float(updates["w"][0]))
    expected = [float(reference(i)) for i in range(total + 5)]
    np.testing.assert_allclose(factors, expected, atol=1e-6)


def test_the_schedule_length_is_state_not_program():
    short, long = scale_by_warmup_cosine(10), scale_by_warmup_cosine(1000)
    assert int(short.init({}).total) == 10 and int(long.init({}).total) == 1000
    # one compiled update serves both: the length is read from the state
    from hyperflax.trainers._programs import OptimizerKey

    assert OptimizerKey(short) == OptimizerKey(long)
