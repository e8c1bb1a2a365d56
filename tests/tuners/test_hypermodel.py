"""Searching a HyperModel: compiled-once trials, best models, Hyperband continuation."""

import numpy as np
import optax
import pytest
from sklearn.datasets import load_digits

import hyperflax as hx
from hyperflax.trainers import CompilationCounter


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return x[:600], y[:600], (x[600:800], y[600:800])


def build(hp, rngs):
    return hx.models.MLP(
        64,
        10,
        [hp.Int("units", 16, 64, log=True)] * hp.Int("layers", 1, 2),
        dropout=hp.Float("dropout", 0.0, 0.5),
        max_width=64,
        max_depth=2,
        rngs=rngs,
    )


def adamw(hp):
    return optax.inject_hyperparams(optax.adamw)(
        learning_rate=hp.Float("lr", 1e-3, 1e-2, log=True),
        weight_decay=hp.Float("wd", 1e-6, 1e-2, log=True),
    )


HYPERMODEL = hx.HyperModel(build, optimizer=adamw, loss="cross_entropy", metrics=["accuracy"])


def test_trials_after_the_first_compile_nothing(digits):
    x, y, val = digits
    tuner = hx.tuners.RandomSearch(
        HYPERMODEL, tracker=None, objective="val_accuracy", max_trials=1, seed=0
    )
    tuner.search(x, y, validation_data=val, epochs=2, batch_size=50)
    tuner.max_trials = 4
    with CompilationCounter() as counter:
        tuner.search(x, y, validation_data=val, epochs=2, batch_size=50)
    assert len(tuner.study.trials) == 4
    widths = {(t.params["units"], t.params["layers"]) for t in tuner.study.trials}
    assert len(widths) > 1  # different architectures of the space, one program
    assert counter.count == 0


def test_best_models_carry_their_best_epoch_weights(digits):
    x, y, val = digits
    tuner = hx.tuners.BayesianOptimization(
        HYPERMODEL, tracker=None, objective="val_accuracy", max_trials=3, seed=1
    )
    tuner.search(x, y, validation_data=val, epochs=4, batch_size=50)
    best_trial = tuner.get_best_trials(1)[0]
    model = tuner.get_best_models(1)[0]
    accuracy = np.mean(np.asarray(model(val[0])).argmax(-1) == val[1])
    assert accuracy == pytest.approx(best_trial.value, abs=1e-6)
    assert best_trial.user_attrs["hx:metrics"]["val_accuracy"] == best_trial.value


def test_hyperband_continues_promoted_trials_from_their_checkpoint(digits):
    x, y, val = digits
    tuner = hx.tuners.Hyperband(
        HYPERMODEL, tracker=None, objective="val_loss", max_epochs=9, factor=3, seed=0
    )
    tuner.search(x, y, validation_data=val, batch_size=50)
    trials = {t.number: t for t in tuner.study.trials}
    plans = {n: hx.tuners.TrialPlan.of(t) for n, t in trials.items()}
    promoted = [t for t in trials.values() if plans[t.number].continues is not None]
    assert promoted and all(t.state.name == "COMPLETE" for t in trials.values())
    for t in promoted:
        parent = trials[plans[t.number].continues]
        # epochs continue where the parent stopped: no training from scratch
        assert min(t.intermediate_values) == plans[parent.number].epochs
        assert max(t.intermediate_values) == plans[t.number].epochs - 1
        assert t.value == min(t.intermediate_values.values())  # its best epoch's value
    # the schedule is done: no full training state is kept, best weights of the 10 best only
    checkpoints = tuner.project_dir / "checkpoints"
    assert not list(checkpoints.glob("*/last.npz"))
    kept = sorted(int(p.parent.name.split("_")[1]) for p in checkpoints.glob("*/best.npz"))
    assert kept == sorted(t.number for t in tuner.get_best_trials(10))
    assert len(tuner.get_best_models(3)) == 3
    with pytest.raises(ValueError, match="not kept: a finished search keeps those of its 10 best"):
        tuner.get_best_models(len(trials))


def test_a_subclass_can_tune_the_batch_size(digits):
    x, y, _ = digits

    class TunedBatch(hx.HyperModel):
        def fit(self, hp, trainer, x, y, *, batch_size, **kwargs):
            return trainer.fit(x, y, batch_size=hp.Choice("batch_size", [25, 50]), **kwargs)

    tuner = hx.tuners.GridSearch(
        TunedBatch(lambda hp, rngs: hx.models.MLP(64, 10, [32], rngs=rngs), metrics=["accuracy"]),
        tracker=None,
        objective="val_accuracy",
    )
    tuner.search(x, y, validation_split=0.25, epochs=1)
    assert sorted(t.params["batch_size"] for t in tuner.study.trials) == [25, 50]


def test_pruners_stop_model_trials_through_per_epoch_reports(digits):
    x, y, val = digits
    tuner = hx.tuners.RandomSearch(
        HYPERMODEL, tracker=None, objective="val_loss", max_trials=12, seed=0, pruner="median"
    )
    tuner.search(x, y, validation_data=val, epochs=6, batch_size=50)
    pruned = [t for t in tuner.study.trials if t.state.name == "PRUNED"]
    assert pruned and all(len(t.intermediate_values) < 6 for t in pruned)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 2}, r"objective 'val_accuracy' needs validation_data= or validation_split="),
        ({"validation_split": 0.2}, r"epochs must be an int >= 1, got None"),
        (
            {"epochs": 2, "validation_split": 1.5},
            r"`validation_split` must be in \(0, 1\), got 1.5",
        ),
        (
            {"epochs": 2, "validation_split": 0.2, "batch_size": 0},
            r"batch_size must be an int >= 1",
        ),
    ],
)
def test_search_arguments_are_checked_before_any_trial(digits, kwargs, message):
    x, y, _ = digits
    tuner = hx.tuners.RandomSearch(HYPERMODEL, tracker=None, objective="val_accuracy", max_trials=2)
    with pytest.raises(ValueError, match=message):
        tuner.search(x, y, **kwargs)
    assert not tuner.study.trials


def test_a_plain_function_takes_no_data():
    tuner = hx.tuners.RandomSearch(lambda hp: 1.0, tracker=None, objective="loss")
    with pytest.raises(ValueError, match=r"takes no training arguments, got \['x', 'epochs'\]"):
        tuner.search(np.zeros((4, 2)), epochs=3)
    with pytest.raises(TypeError, match="get_best_models needs a HyperModel"):
        tuner.get_best_models()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (lambda x, y: (x[:100], y[:99]), r"`x` and `y` must have the same number.*100 and 99"),
        (
            lambda x, y: (np.where(np.arange(len(x))[:, None] == 3, np.nan, x), y),
            r"`x` must be finite, got 64 NaN/inf value\(s\), first at index \(3, 0\)",
        ),
        (lambda x, y: (x, y + 10), r"labels.*\[0, 10\)"),
        (
            lambda x, y: (x[:, :32], y),
            r"`x` has per-sample feature shape \(32,\), which the model cannot take",
        ),
    ],
)
def test_bad_data_stops_the_search_before_any_trial(digits, data, message):
    x, y, _ = digits
    x, y = data(x, y)
    tuner = hx.tuners.RandomSearch(HYPERMODEL, tracker=None, objective="val_loss", max_trials=5)
    with pytest.raises(hx.trainers.DataError, match=message):
        tuner.search(x, y, validation_split=0.2, epochs=1, batch_size=10)
    assert tuner.study.trials == []


def test_an_objective_the_model_does_not_log_is_an_error_at_search(digits):
    x, y, val = digits
    tuner = hx.tuners.RandomSearch(HYPERMODEL, tracker=None, objective="val_auc", max_trials=2)
    with pytest.raises(
        ValueError, match=r"'val_auc' is not logged.*'val_accuracy'.*add the metric"
    ):
        tuner.search(x, y, validation_data=val, epochs=1, batch_size=50)
    assert not tuner.study.trials


def test_the_design_md_space_compiles_a_bounded_number_of_programs_without_hints(tmp_path):
    """Widths and depths of hx.models.MLP from hp.Int need no max_width/max_depth."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)

    def build_model(hp, rngs):
        return hx.models.MLP(
            in_features=64, out_features=10,
            hidden=[hp.Int("units", 32, 256, log=True)] * hp.Int("layers", 1, 3),
            dropout=hp.Float("dropout", 0.0, 0.5), rngs=rngs,
        )  # fmt: skip

    tuner = hx.tuners.RandomSearch(
        hx.HyperModel(build_model, metrics=["accuracy"]), objective="val_accuracy",
        max_trials=10, seed=0, tracker=None, directory=tmp_path, verbose=0,
    )  # fmt: skip
    with hx.trainers.CompilationCounter() as counter:
        tuner.search(x[:600], y[:600], validation_data=(x[600:800], y[600:800]), epochs=2,
                     batch_size=64)  # fmt: skip
    frame = tuner.trials_dataframe()
    assert frame.params_units.nunique() == 10 and frame.params_layers.nunique() >= 2
    # Capacity 256 wide for every width; depths 1, 2 and 3 -> 1, 2 and 4 layers: one train and
    # one evaluate program per depth bucket plus small placement programs shared by all
    # (measured: 28 for two buckets). One program per architecture would need >= 40.
    buckets = len({1 << (n - 1).bit_length() for n in frame.params_layers})
    assert counter.count <= 15 * buckets
