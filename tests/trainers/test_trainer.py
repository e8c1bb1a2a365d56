import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from hyperflax.models import MLP
from hyperflax.trainers import Callback, NonFiniteLossError, Trainer


def test_fit_learns_and_logs_every_epoch(digits, make_trainer):
    x, y = digits
    history = make_trainer().fit(
        x[:200], y[:200], validation_data=(x[200:], y[200:]), epochs=4, batch_size=32
    )
    assert history.epochs == [0, 1, 2, 3]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 4 for values in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.6


def test_initial_epoch_trains_the_remaining_epochs(digits, make_trainer):
    x, y = digits
    trainer = make_trainer()
    history = trainer.fit(x, y, epochs=3, initial_epoch=1, batch_size=32)
    assert history.epochs == [1, 2]
    assert trainer.epoch == 3


def test_evaluate_counts_every_sample_once(digits, make_trainer):
    x, y = digits
    trainer = make_trainer()
    trainer.fit(x, y, epochs=1, batch_size=32)
    n = 203  # not a multiple of the batch size: the last batch is padded and masked
    logs = trainer.evaluate(x[:n], y[:n], batch_size=32)
    logits = trainer.predict(x[:n], batch_size=32)
    assert logits.shape == (n, 10)
    expected_loss = optax.softmax_cross_entropy_with_integer_labels(logits, y[:n]).mean()
    np.testing.assert_allclose(logs["loss"], expected_loss, rtol=1e-5)
    assert logs["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == y[:n]))


def test_dict_inputs_are_passed_as_keyword_arguments(digits):
    class TwoInputs(nnx.Module):
        def __init__(self, rngs: nnx.Rngs) -> None:
            self.left = nnx.Linear(32, 10, rngs=rngs)
            self.right = nnx.Linear(32, 10, rngs=rngs)

        def __call__(self, left: jnp.ndarray, right: jnp.ndarray) -> jnp.ndarray:
            return self.left(left) + self.right(right)

    x, y = digits
    trainer = Trainer(TwoInputs(nnx.Rngs(0)), optax.adam(1e-2), "cross_entropy")
    inputs = {"left": x[:, :32], "right": x[:, 32:]}
    history = trainer.fit(inputs, y, epochs=3, batch_size=50)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert trainer.predict(inputs, batch_size=64).shape == (300, 10)


def test_bfloat16_keeps_float32_state_and_learns(digits, make_trainer):
    x, y = digits
    trainer = make_trainer(precision="bfloat16")
    history = trainer.fit(x, y, epochs=4, batch_size=32)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    params = nnx.state(trainer.model, nnx.Param)
    assert {leaf.dtype for leaf in jax.tree.leaves(params)} == {np.dtype("float32")}
    floating = [
        leaf
        for leaf in jax.tree.leaves(trainer.opt_state)
        if jnp.issubdtype(leaf.dtype, jnp.floating)
    ]
    assert {leaf.dtype for leaf in floating} == {np.dtype("float32")}


def test_nan_loss_raises_with_epoch_and_advice(digits, make_trainer):
    x, y = digits
    trainer = make_trainer(learning_rate=1e30)
    with pytest.raises(NonFiniteLossError, match=r"epoch \d+.*lower learning rate"):
        trainer.fit(x, y, epochs=5, batch_size=32)


def test_a_nan_stops_at_its_epoch_with_the_next_epoch_queued(digits, make_trainer):
    """Without callbacks the next epoch is queued before a NaN is seen; fit still ends there."""
    x, y = digits
    trainer = make_trainer(learning_rate=1e30)
    with pytest.raises(NonFiniteLossError, match=r"epoch (\d+)") as raised:
        trainer.fit(x, y, epochs=50, batch_size=32)
    epoch = int(raised.value.args[0].split("epoch ")[1].split(";")[0])
    assert trainer.epoch == epoch + 1 < 50
    params = jax.tree.leaves(nnx.state(trainer.model, nnx.Param))
    assert not all(bool(jnp.isfinite(leaf).all()) for leaf in params)  # that epoch's state


def test_epochs_queued_ahead_train_exactly_as_epochs_run_one_by_one(digits, make_trainer):
    """No callbacks (epochs queued ahead) and a no-op callback (one by one): the same numbers."""
    x, y = digits
    runs = []
    for callbacks in ([], [Callback()]):
        trainer = make_trainer()
        history = trainer.fit(
            x[:200], y[:200], validation_data=(x[200:], y[200:]), epochs=4,
            batch_size=32, callbacks=callbacks,
        )  # fmt: skip
        runs.append((history.history, nnx.state(trainer.model, nnx.Param), trainer.epoch))
    (logs, params, epoch), (logs_one_by_one, params_one_by_one, epoch_one_by_one) = runs
    assert logs == logs_one_by_one and epoch == epoch_one_by_one == 4
    assert jax.tree.all(jax.tree.map(np.array_equal, params, params_one_by_one))


class BoomError(Exception):
    pass


class RaiseAt(Callback):
    def on_epoch_end(self, epoch, logs, trainer):
        if epoch == 1:
            raise BoomError(epoch)


class StopAt(Callback):
    def on_epoch_end(self, epoch, logs, trainer):
        trainer.stop_training = epoch == 1


def test_callback_exceptions_propagate_unchanged(digits, make_trainer):
    x, y = digits
    with pytest.raises(BoomError) as info:
        make_trainer().fit(x, y, epochs=4, batch_size=32, callbacks=[RaiseAt()])
    assert info.value.args == (1,)


def test_callback_can_stop_training(digits, make_trainer):
    x, y = digits
    history = make_trainer().fit(x, y, epochs=4, batch_size=32, callbacks=[StopAt()])
    assert history.epochs == [0, 1]


def test_regression_with_metrics(digits):
    x, _ = digits
    target = x[:, :4].sum(axis=1)
    model = MLP(64, 1, [16], rngs=nnx.Rngs(0))
    trainer = Trainer(model, optax.adam(1e-2), "mse", ["mae", "r2"])
    history = trainer.fit(x, target, epochs=4, batch_size=30)
    assert history.history["r2"][-1] > history.history["r2"][0]
    assert trainer.evaluate(x, target, batch_size=64)["r2"] > 0.5


def test_unknown_strategy_and_precision_are_rejected(make_trainer):
    with pytest.raises(ValueError, match="strategy"):
        make_trainer(strategy="ddp")
    with pytest.raises(ValueError, match="precision"):
        make_trainer(precision="float16")
