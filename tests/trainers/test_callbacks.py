import math

import jax
import numpy as np
import pytest
from flax import nnx

from hyperflax.trainers import BestCheckpoint, Callback, EarlyStopping, load_weights


def _params(model):
    return [np.asarray(leaf) for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))]


class Scripted(Callback):
    """Overwrites the monitored value so the best epoch is known in advance."""

    def __init__(self, values):
        self.values = values
        self.snapshots = {}

    def on_epoch_end(self, epoch, logs, trainer):
        logs["score"] = self.values[epoch]
        self.snapshots[epoch] = _params(trainer.model)


def test_early_stopping_stops_and_restores_best(digits, make_trainer):
    x, y = digits
    script = Scripted([0.9, 0.5, 0.7, 0.6, 0.8, 0.4])
    stop = EarlyStopping(monitor="score", patience=2, mode="min")
    trainer = make_trainer()
    history = trainer.fit(x, y, epochs=6, batch_size=32, callbacks=[script, stop])
    assert history.epochs == [0, 1, 2, 3]
    assert stop.stopped_epoch == 3
    for restored, expected in zip(_params(trainer.model), script.snapshots[1], strict=True):
        np.testing.assert_array_equal(restored, expected)


def test_best_checkpoint_restores_and_saves(digits, make_trainer, tmp_path):
    x, y = digits
    script = Scripted([0.1, 0.3, 0.2])
    best = BestCheckpoint("score", mode="max")
    trainer = make_trainer()
    trainer.fit(x, y, epochs=3, batch_size=32, callbacks=[script, best])
    assert (best.best_epoch, best.best_value) == (1, 0.3)
    best.save(tmp_path / "best.npz")
    fresh = make_trainer(seed=5).model
    load_weights(fresh, tmp_path / "best.npz")
    for restored, expected in zip(_params(fresh), script.snapshots[1], strict=True):
        np.testing.assert_array_equal(restored, expected)
    best.restore(trainer.model)
    np.testing.assert_array_equal(_params(trainer.model)[0], script.snapshots[1][0])


def test_auto_mode_and_unknown_monitor():
    assert EarlyStopping("val_loss").mode == "min"
    assert EarlyStopping("val_auc").mode == "max"
    assert BestCheckpoint("val_mae").mode == "min"
    with pytest.raises(ValueError, match="mode='min' or 'max'"):
        BestCheckpoint("val_speed")
    assert math.isinf(BestCheckpoint("val_r2").best_value)
