import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from hyperflax.models import MLP


def _plain_copy(masked: MLP, in_features: int, hidden: list[int]) -> list[nnx.Linear]:
    """Unmasked nnx.Linear stack of the active shape, holding the masked model's weights."""
    sizes = [in_features, *hidden]
    layers = []
    for layer, fan_in, units in zip(masked.layers, sizes[:-1], sizes[1:], strict=False):
        plain = nnx.Linear(fan_in, units, rngs=nnx.Rngs(0))
        plain.kernel[...] = layer.kernel[...][:fan_in, :units]
        plain.bias[...] = layer.bias[...][:units]
        layers.append(plain)
    head = nnx.Linear(hidden[-1], masked.head.out_features, rngs=nnx.Rngs(0))
    head.kernel[...] = masked.head.kernel[...][: hidden[-1]]
    head.bias[...] = masked.head.bias[...]
    return [*layers, head]


@pytest.mark.parametrize("hidden", [[64], [200, 200, 200], [17, 5]])
def test_masked_mlp_equals_unmasked_mlp_of_the_active_shape(hidden):
    model = MLP(12, 4, hidden, dropout=0.5, max_width=256, max_depth=3, rngs=nnx.Rngs(3))
    model.eval()
    x = jnp.asarray(np.random.default_rng(0).normal(size=(6, 12)), jnp.float32)
    *layers, head = _plain_copy(model, 12, hidden)
    h = x
    for layer in layers:
        h = nnx.relu(layer(h))
    np.testing.assert_allclose(model(x), head(h), rtol=1e-5, atol=1e-6)
    assert model.hidden == hidden


def test_same_capacity_means_same_graph_and_he_init_uses_active_fan_in():
    small = MLP(64, 10, [64], dropout=0.1, max_width=256, max_depth=3, rngs=nnx.Rngs(0))
    large = MLP(64, 10, [200, 200], dropout=0.4, max_width=256, max_depth=3, rngs=nnx.Rngs(1))
    assert nnx.graphdef(small) == nnx.graphdef(large)
    std = float(np.std(large.layers[1].kernel[...][:200, :200]))
    assert std == pytest.approx(np.sqrt(2 / 200), rel=0.05)


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_norms_respect_masks(norm):
    model = MLP(5, 2, [3, 2], norm=norm, max_width=8, max_depth=3, rngs=nnx.Rngs(0))
    model.train()
    out = model(jnp.ones((4, 5)) * jnp.arange(4.0)[:, None])
    assert out.shape == (4, 2) and bool(jnp.isfinite(out).all())


def test_dropout_is_active_in_train_mode_only():
    model = MLP(4, 2, [64], dropout=0.5, rngs=nnx.Rngs(0))
    x = jnp.ones((8, 4))
    model.train()
    assert not np.allclose(model(x), model(x))
    model.eval()
    np.testing.assert_array_equal(model(x), model(x))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden": []}, "`hidden`"),
        ({"hidden": [300], "max_width": 256}, "`max_width`"),
        ({"hidden": [8, 8], "max_depth": 1}, "`max_depth`"),
        ({"hidden": [8], "activation": "swish2"}, "`activation`"),
        ({"hidden": [8], "norm": "group"}, "`norm`"),
        ({"hidden": [8], "dropout": 1.0}, "`dropout`"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP(4, 2, rngs=nnx.Rngs(0), **kwargs)


def test_widths_from_a_search_space_size_the_capacity_to_the_range():
    from flax import nnx

    import hyperflax as hx

    hp = hx.HyperParameters({"units": 40, "layers": 3})
    units, layers = hp.Int("units", 32, 256, log=True), hp.Int("layers", 1, 3)
    tuned = hx.models.MLP(8, 2, [units] * layers, rngs=nnx.Rngs(0))
    assert tuned.layers[0].kernel.shape == (8, 256)  # the range's top, whatever the value
    assert len(tuned.layers) == 4 and tuned.hidden == [40, 40, 40]  # depth bucket 4
    plain = hx.models.MLP(8, 2, [40, 40, 40], rngs=nnx.Rngs(0))
    assert plain.layers[0].kernel.shape == (8, 64) and len(plain.layers) == 3
