import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from hyperflax.models import MLP
from hyperflax.trainers import load_weights, save_weights


def _params(model):
    return [np.asarray(leaf) for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))]


def test_checkpoint_continuation_matches_uninterrupted_training(digits, make_trainer, tmp_path):
    x, y = digits
    reference = make_trainer(dropout=0.2)
    reference_history = reference.fit(x, y, epochs=4, batch_size=32)

    first = make_trainer(dropout=0.2)
    first.fit(x, y, epochs=2, batch_size=32)
    first.save_checkpoint(tmp_path / "trial.npz")

    resumed = make_trainer(dropout=0.2, seed=123)  # fresh model; seed comes from the file
    resumed.load_checkpoint(tmp_path / "trial.npz")
    assert resumed.epoch == 2
    history = resumed.fit(x, y, epochs=4, initial_epoch=resumed.epoch, batch_size=32)
    assert history.history["loss"] == reference_history.history["loss"][2:]
    for got, want in zip(_params(resumed.model), _params(reference.model), strict=True):
        np.testing.assert_array_equal(got, want)


def test_loading_into_a_different_structure_fails_clearly(make_trainer, tmp_path):
    trainer = make_trainer()
    trainer.save_checkpoint(tmp_path / "trial.npz")
    with pytest.raises(ValueError, match=r"does not match.*different architecture"):
        make_trainer(hidden=(32, 32)).load_checkpoint(tmp_path / "trial.npz")
    save_weights(trainer.model, tmp_path / "weights.npz")
    with pytest.raises(ValueError, match="not a trainer checkpoint"):
        trainer.load_checkpoint(tmp_path / "weights.npz")
    with pytest.raises(ValueError, match="mismatched"):
        load_weights(MLP(64, 10, [32], max_width=64, rngs=nnx.Rngs(0)), tmp_path / "weights.npz")


def test_weights_round_trip_includes_non_param_state(tmp_path):
    source = MLP(8, 3, [4], norm="batch", dropout=0.3, max_width=8, rngs=nnx.Rngs(0))
    source.norms[0].mean[...] = np.full(8, 0.5, np.float32)
    save_weights(source, tmp_path / "w.npz")
    target = MLP(8, 3, [8], norm="batch", dropout=0.1, max_width=8, rngs=nnx.Rngs(1))
    load_weights(target, tmp_path / "w.npz")
    assert target.hidden == [4]
    assert float(target.dropout.rate[...]) == pytest.approx(0.3)
    np.testing.assert_array_equal(target.norms[0].mean[...], np.full(8, 0.5))
    files = np.load(tmp_path / "w.npz", allow_pickle=False).files
    assert any("dropout/rngs/key" in name for name in files)


def test_bfloat16_weights_round_trip(tmp_path):
    source = nnx.Linear(2, 3, param_dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    save_weights(source, tmp_path / "w.npz")
    target = nnx.Linear(2, 3, param_dtype=jnp.bfloat16, rngs=nnx.Rngs(1))
    load_weights(target, tmp_path / "w.npz")
    assert target.kernel[...].dtype == jnp.bfloat16
    np.testing.assert_array_equal(target.kernel[...], source.kernel[...])


def test_weights_load_without_unpickling(tmp_path):
    np.savez(tmp_path / "w.npz", **{"model/kernel/value": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="allow_pickle=False"):
        load_weights(nnx.Linear(2, 3, rngs=nnx.Rngs(0)), tmp_path / "w.npz")
