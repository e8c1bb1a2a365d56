"""Mistakes users make are caught when search() starts, before any trial runs, with the fix."""

import numpy as np
import optax
import pytest

import hyperflax as hx

X = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
Y = np.arange(64) % 3


def mlp(hp, rngs):
    return hx.models.MLP(8, 3, [hp.Int("units", 8, 32)], rngs=rngs)


def adam(hp):
    return optax.inject_hyperparams(optax.adam)(learning_rate=hp.Float("lr", 1e-3, 1e-2))


def keras_style(hp):
    return mlp(hp, None)


def not_a_module(hp, rngs):
    return mlp


@pytest.mark.parametrize(
    ("hypermodel", "x", "y", "error", "message"),
    [
        (hx.HyperModel(mlp, optimizer="adam"), X, Y, TypeError,
         r"optimizer must not be a string, got 'adam'; pass an optax transformation"),
        (hx.HyperModel(keras_style), X, Y, TypeError,
         r"must take \(hp, rngs\), got keras_style\(hp\); write `def build\(hp, rngs\):`"),
        (hx.HyperModel(not_a_module), X, Y, TypeError,
         r"must return a flax.nnx.Module, got function"),
        (hx.HyperModel(mlp, optimizer=lambda hp: "sgd"), X, Y, TypeError,
         r"optimizer function must return an optax transformation, got str"),
        (hx.HyperModel(mlp, metrics=["acuracy"]), X, Y, ValueError,
         r"metrics 'acuracy' is not known; did you mean 'accuracy'\?"),
        (hx.HyperModel(mlp, loss="cross_entropi"), X, Y, ValueError,
         r"loss 'cross_entropi' is not known; did you mean 'cross_entropy'\?"),
        (hx.HyperModel(mlp, optimizer=adam), X, Y + 0.5, hx.errors.DataError,
         r"regression target: use loss='mse'"),
        (hx.HyperModel(mlp, optimizer=adam), X, np.full((64, 3), 0.5), hx.errors.DataError,
         r"got shape \(64, 3\) dtype float32"),
        (hx.HyperModel(mlp, optimizer=adam), X[:, :5], Y, hx.errors.DataError,
         r"per-sample feature shape \(5,\), which the model cannot take"),
    ],
)  # fmt: skip
def test_a_mistake_stops_the_search_before_any_trial(hypermodel, x, y, error, message, tmp_path):
    tuner = hx.tuners.RandomSearch(
        hypermodel, objective="val_loss", max_trials=2, directory=tmp_path, tracker=None
    )
    with pytest.raises(error, match=message):
        tuner.search(x, y, validation_split=0.25, epochs=1, batch_size=16)
    assert tuner.study.trials == []


def test_a_misspelled_objective_is_named_with_the_likely_metric():
    with pytest.raises(ValueError, match="did you mean 'val_accuracy'"):
        hx.tuners.RandomSearch(hx.HyperModel(mlp), objective="val_acuracy")


def test_a_tuned_flax_dropout_rate_is_warned_about_with_the_fix(tmp_path, caplog):
    from flax import nnx

    class Net(nnx.Module):
        def __init__(self, rate, rngs):
            self.hidden = nnx.Linear(8, 3, rngs=rngs)
            self.drop = nnx.Dropout(rate, rngs=rngs)

        def __call__(self, x):
            return self.drop(self.hidden(x))

    hypermodel = hx.HyperModel(lambda hp, rngs: Net(hp.Float("dropout", 0.1, 0.5), rngs))
    tuner = hx.tuners.RandomSearch(
        hypermodel, objective="val_loss", max_trials=1, directory=tmp_path, tracker=None
    )
    with caplog.at_level("WARNING", logger="hyperflax"):
        tuner.search(X, Y, validation_split=0.25, epochs=1, batch_size=16)
    assert "drop is a flax.nnx.Dropout whose rate comes from a hyperparameter" in caplog.text
    assert "hx.models.Dropout(rate, rngs=rngs)" in caplog.text


def test_a_subclass_with_its_own_fit_may_transform_the_data(tmp_path):
    class Squares(hx.HyperModel):
        def fit(self, hp, trainer, x, y, *, validation_data, **kwargs):
            x_val, y_val = validation_data
            squared = (np.hstack([x_val, x_val**2]), y_val)
            return trainer.fit(np.hstack([x, x**2]), y, validation_data=squared, **kwargs)

    hypermodel = Squares(lambda hp, rngs: hx.models.MLP(16, 3, [8], rngs=rngs))
    tuner = hx.tuners.RandomSearch(
        hypermodel, objective="val_loss", max_trials=1, directory=tmp_path, tracker=None
    )
    tuner.search(X, Y, validation_split=0.25, epochs=1, batch_size=16)
    assert tuner.trials_dataframe().state.tolist() == ["COMPLETE"]
