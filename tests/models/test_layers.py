import jax.numpy as jnp
import numpy as np
from flax import nnx

from hyperflax.models import Dropout, DropoutRate


def test_dropout_rate_is_state_and_scales_kept_units():
    drop = Dropout(0.25, rngs=nnx.Rngs(0))
    assert isinstance(drop.rate, DropoutRate)
    assert nnx.graphdef(drop) == nnx.graphdef(Dropout(0.75, rngs=nnx.Rngs(1)))
    out = np.asarray(drop(jnp.ones(20_000)))
    np.testing.assert_allclose(np.unique(out), [0.0, 1 / 0.75], rtol=1e-6)
    assert abs((out == 0).mean() - 0.25) < 0.02
