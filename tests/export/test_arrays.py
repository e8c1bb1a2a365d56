import jax.numpy as jnp
import numpy as np
import pytest
from export_models import MLP, N_FEATURES, eval_output, rehash, tabular, truncate
from flax import nnx

from hyperflax.export import ArtifactError, export_model, load_model


def test_bfloat16_weights_round_trip(tmp_path):
    model = MLP(N_FEATURES, 2, rngs=nnx.Rngs(3), param_dtype=jnp.bfloat16)
    x = tabular(6)
    predictor = load_model(export_model(model, tmp_path / "m", example_input=x))
    np.testing.assert_allclose(predictor.predict(x), eval_output(model, x), atol=1e-5)


def test_truncated_weights_with_a_matching_checksum_are_a_bad_npz(artifact):
    truncate(artifact / "arrays.npz")
    rehash(artifact, "arrays.npz")
    with pytest.raises(ArtifactError, match=r"arrays.npz.*cannot read arrays"):
        load_model(artifact)


def test_pickled_arrays_are_refused(artifact):
    np.savez(artifact / "arrays.npz", payload=np.array([{"a": 1}], dtype=object))
    rehash(artifact, "arrays.npz")
    with pytest.raises(ArtifactError, match=r"cannot read arrays.*allow_pickle=False"):
        load_model(artifact)


def test_weights_that_do_not_fit_the_program_are_reported(artifact):
    with np.load(artifact / "arrays.npz", allow_pickle=False) as arrays:
        weights = {k: arrays[k] for k in arrays.files}
    first = sorted(weights)[-1]
    weights[first] = weights[first][:1]
    np.savez(artifact / "arrays.npz", **weights)
    rehash(artifact, "arrays.npz")
    with pytest.raises(ArtifactError, match=f"array '{first}' is float32"):
        load_model(artifact)
