"""Vectorized trials: population_size=K trains K trials in one program, each its own trial."""

import numpy as np
import optax
import optuna
import pytest
from optuna.trial import TrialState
from sklearn.datasets import load_digits

import hyperflax as hx
from hyperflax.trainers import CompilationCounter


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return x[:480], y[:480], (x[480:640], y[480:640])


def build(hp, rngs):
    return hx.models.MLP(
        64,
        10,
        [hp.Int("units", 16, 64, log=True)] * hp.Int("layers", 1, 3),
        dropout=hp.Float("dropout", 0.0, 0.5),
        rngs=rngs,
    )


def adam(hp):
    return optax.inject_hyperparams(optax.adam)(learning_rate=hp.Float("lr", 1e-3, 3e-2, log=True))


HYPERMODEL = hx.HyperModel(build, optimizer=adam, loss="cross_entropy", metrics=["accuracy"])


def _search(digits, tuner_class=hx.tuners.RandomSearch, epochs=3, **options):
    x, y, val = digits
    options = {"objective": "val_loss", "seed": 0, "tracker": None, "verbose": 0, **options}
    tuner = tuner_class(HYPERMODEL, **options)
    fit = {} if tuner_class is hx.tuners.Hyperband else {"epochs": epochs}
    tuner.search(x, y, validation_data=val, batch_size=32, **fit)
    return tuner


def _by_params(tuner):
    trials = tuner.study.get_trials(states=(TrialState.COMPLETE,))
    return {tuple(sorted(t.params.items())): t for t in trials}


def test_a_population_gives_each_trial_the_result_it_gets_alone(digits):
    alone = _search(digits, max_trials=6, project_name="alone")
    together = _search(digits, max_trials=6, project_name="together", population_size=4)
    a, b = _by_params(alone), _by_params(together)
    assert a.keys() == b.keys() and len(a) == 6  # the same configurations, each its own trial
    depths = {t.params["layers"] for t in b.values()}
    assert len(depths) >= 2  # capacity depths 1, 2 and 4 are different programs
    for params, trial in a.items():
        other = b[params]
        assert other.value == pytest.approx(trial.value, rel=1e-3)
        steps = {"step", "loss", "accuracy", "val_loss", "val_accuracy"}
        assert set(other.user_attrs["hx:history"]) == steps
        np.testing.assert_allclose(
            other.user_attrs["hx:history"]["val_loss"],
            trial.user_attrs["hx:history"]["val_loss"],
            rtol=1e-3,
        )
        assert other.intermediate_values.keys() == {0, 1, 2}
    best = together.get_best_models(1)[0]
    _, _, (xv, yv) = digits
    accuracy = float((np.asarray(best(xv)).argmax(-1) == yv).mean())
    assert accuracy == pytest.approx(
        together.get_best_trials(1)[0].user_attrs["hx:metrics"]["val_accuracy"], abs=1e-6
    )


def test_later_populations_compile_nothing(digits):
    # 16 trials see every capacity depth of the space (1, 2 and 4) and refill their slots
    warm = _search(digits, max_trials=16, project_name="warm", population_size=4)
    assert {t.params["layers"] for t in warm.study.trials} == {1, 2, 3}
    with CompilationCounter() as counter:
        tuner = _search(digits, max_trials=24, project_name="warm", population_size=4)
    assert len(tuner.study.trials) == 24
    assert counter.count == 0


@pytest.mark.filterwarnings("ignore:Fixed parameter lr:UserWarning")  # lr=1e30 on purpose
def test_a_diverging_trial_fails_alone(digits):
    class Exploding(hx.tuners.RandomSearch):
        def next_trial(self, trials):
            if len(trials) == 1:
                return hx.tuners.TrialPlan(params={"lr": 1e30, "units": 16, "layers": 1})
            return super().next_trial(trials)

    tuner = _search(digits, Exploding, max_trials=4, population_size=4)
    states = [t.state for t in tuner.study.trials]
    assert states.count(TrialState.FAIL) == 1 and states.count(TrialState.COMPLETE) == 3
    failed = next(t for t in tuner.study.trials if t.state == TrialState.FAIL)
    assert "NonFiniteLossError" in failed.user_attrs["hx:error"]


def test_hyperband_runs_its_schedule_in_populations(digits):
    alone = _search(digits, hx.tuners.Hyperband, max_epochs=4, factor=2, project_name="hb1")
    together = _search(
        digits, hx.tuners.Hyperband, max_epochs=4, factor=2, project_name="hb4", population_size=4
    )
    assert len(together.study.trials) == len(alone.study.trials) == alone.expected_trials()
    assert all(t.state == TrialState.COMPLETE for t in together.study.trials)
    promoted = [t for t in together.study.trials if "continues" in t.user_attrs["hx:plan"]]
    assert promoted, "some trials continue their parent's training"
    for trial in promoted:
        parent = together.study.trials[trial.user_attrs["hx:plan"]["continues"]]
        assert trial.params == parent.params
        assert min(trial.intermediate_values) == max(parent.intermediate_values) + 1


def test_pruned_members_leave_the_population(digits):
    tuner = _search(
        digits, max_trials=12, population_size=4, epochs=6,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )  # fmt: skip
    states = [t.state for t in tuner.study.trials]
    assert TrialState.PRUNED in states and states.count(TrialState.COMPLETE) >= 2
    assert len(states) == 12


def test_bayesian_optimization_asks_a_population_at_once(digits):
    tuner = _search(
        digits, hx.tuners.BayesianOptimization, max_trials=8, population_size=4,
        num_initial_points=4,
    )  # fmt: skip
    assert sum(t.state == TrialState.COMPLETE for t in tuner.study.trials) == 8


def test_population_size_is_checked_when_the_tuner_is_built():
    with pytest.raises(ValueError, match="population_size"):
        hx.tuners.RandomSearch(HYPERMODEL, population_size=0, tracker=None)
    with pytest.raises(ValueError, match="needs a HyperModel"):
        hx.tuners.RandomSearch(lambda hp: 0.0, population_size=2, tracker=None)

    class TunedBatch(hx.HyperModel):
        def fit(self, hp, trainer, x, y, **kwargs):
            return super().fit(hp, trainer, x, y, **kwargs)

    with pytest.raises(ValueError, match=r"overrides HyperModel\.fit"):
        hx.tuners.RandomSearch(TunedBatch(build), population_size=4, tracker=None)


def test_auto_population_size_is_one_on_a_cpu_and_bounded_by_memory_elsewhere(digits):
    import jax

    tuner = _search(digits, max_trials=2, population_size="auto")
    assert all(t.state == TrialState.COMPLETE for t in tuner.study.trials)
    size = tuner.runner.auto_population_size()
    if jax.default_backend() == "cpu":
        assert size == 1
    else:
        assert 1 <= size <= 16
    assert tuner.runner.member_bytes() > 4 * 64 * 64 * 4  # at least the first layer, 4 times
