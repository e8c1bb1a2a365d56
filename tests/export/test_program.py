import jax
import jax.numpy as jnp
import numpy as np
import pytest
from export_models import ConvNet, eval_output, images, tabular
from flax import nnx

from hyperflax.export import export_model, load_model


def test_weights_are_program_arguments_not_constants(tmp_path):
    model = nnx.Linear(256, 512, rngs=nnx.Rngs(0))
    path = export_model(model, tmp_path / "m", example_input=np.ones((1, 256), np.float32))
    with np.load(path / "arrays.npz", allow_pickle=False) as arrays:
        stored = sorted(arrays[k].tobytes() for k in arrays.files)
    assert stored == sorted(np.asarray(v).tobytes() for v in jax.tree.leaves(nnx.state(model)))
    assert (path / "program.jaxexport").stat().st_size < model.kernel[...].nbytes / 20


def test_export_leaves_the_model_in_training_mode(regressor, regressor_path):
    assert regressor.dropout.deterministic is False


def test_float64_example_input_exports_a_float32_program(regressor, tmp_path):
    x = tabular(3).astype(np.float64)
    predictor = load_model(export_model(regressor, tmp_path / "m", example_input=x))
    assert predictor.input_spec.dtype == np.float32
    np.testing.assert_allclose(predictor.predict(x), eval_output(regressor, x), atol=1e-5)


def test_not_an_nnx_module_is_a_type_error(tmp_path):
    with pytest.raises(TypeError, match=r"nnx.Module"):
        export_model(lambda x: x, tmp_path / "m", example_input=tabular(2))


def test_a_model_returning_a_tuple_is_a_type_error(tmp_path):
    class TwoHeads(ConvNet):
        def __call__(self, x: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
            out = super().__call__(x)
            return out, out

    with pytest.raises(TypeError, match=r"single array"):
        export_model(TwoHeads(2, rngs=nnx.Rngs(0)), tmp_path / "m", example_input=images(2))
