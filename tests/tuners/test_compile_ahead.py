"""Compiling the next trial's programs while the current one trains (``compile_ahead``)."""

import itertools

import jax
import numpy as np
import optax
import optuna
import pytest
from flax import nnx
from optuna.trial import TrialState
from sklearn.datasets import load_digits

import hyperflax as hx
from hyperflax.trainers import Callback, CompilationCounter


class _Net(nnx.Module):
    """A user's model whose shapes change with its hyperparameters (no capacity)."""

    def __init__(self, units: int, layers: int, rngs: nnx.Rngs) -> None:
        sizes = [64] + [units] * layers
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)])
        self.out = nnx.Linear(units, 10, rngs=rngs)

    def __call__(self, x):
        for layer in self.layers:
            x = nnx.relu(layer(x))
        return self.out(x)


def _hypermodel():
    def build(hp, rngs):
        return _Net(int(hp.Int("units", 8, 64, log=True)), int(hp.Int("layers", 1, 3)), rngs)

    return hx.HyperModel(
        build, optimizer=lambda hp: optax.adam(hp.Float("lr", 1e-3, 1e-2, log=True)),
        loss="cross_entropy", metrics=["accuracy"],
    )  # fmt: skip


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return (x[:400] / 16).astype(np.float32), y[:400]


class _CountFitCompiles(Callback):
    """Training programs each trial's fit compiles itself (in the search's thread)."""

    def __init__(self) -> None:
        self.per_trial: list[int] = []
        self._counter = CompilationCounter()

    def on_train_begin(self, trainer):
        self._counter.__enter__()

    def on_train_end(self, trainer):
        self._counter.__exit__(None, None, None)
        self.per_trial.append(sum("_shard_map_train" in n for n in self._counter.names))


def _search(tmp_path, digits, mode, name, **options):
    x, y = digits
    jax.clear_caches()  # every search of the module starts without compiled programs
    counter = _CountFitCompiles()
    tuner = hx.tuners.RandomSearch(
        _hypermodel(), objective="val_accuracy", seed=0, tracker=None, verbose=0,
        directory=tmp_path, project_name=name, compile_ahead=mode, **options,
    )  # fmt: skip
    tuner.search(x, y, validation_split=0.25, epochs=2, batch_size=50, callbacks=[counter])
    return tuner, counter.per_trial


def test_trials_compiled_ahead_compile_nothing_and_score_the_same(tmp_path, digits):
    alone, compiled_alone = _search(tmp_path, digits, False, "alone", max_trials=5)
    ahead, compiled_ahead = _search(tmp_path, digits, True, "ahead", max_trials=5)
    # every configuration has its own shapes: compiled in the fit, or ahead in a thread
    assert compiled_alone == [1, 1, 1, 1, 1]
    assert compiled_ahead[0] == 1 and compiled_ahead[1:] == [0, 0, 0, 0]
    first = [(t.params, t.value) for t in alone.study.get_trials()]
    second = [(t.params, t.value) for t in ahead.study.get_trials()]
    assert [p for p, _ in first] == [p for p, _ in second]  # sampled in the same order
    np.testing.assert_allclose([v for _, v in first], [v for _, v in second], rtol=1e-6)
    assert all(t.state == TrialState.COMPLETE for t in ahead.study.get_trials())


def test_auto_stays_off_on_a_cpu(tmp_path, digits):
    # compiling and training share the cores there (bench/compile_ahead.py: 0.95-1.14x)
    _, compiled = _search(tmp_path, digits, "auto", "auto", max_trials=4)
    assert compiled == [1, 1, 1, 1]


class _Timed(hx.tuners.Runner):
    """A runner whose trials report how their time split between compiling and the rest."""

    def __init__(self, split):
        self.split, self.ahead = split, []

    def prepare(self, args, *, objective, plans_epochs):
        pass

    def run(self, hp, context):
        x = hp.Float("x", 0.0, 1.0)
        context.built()  # every value sampled: the next trial may be claimed
        return hx.tuners.TrialOutput(x)

    def compile_ahead(self, hp, context):
        self.ahead.append((context.number, hp.Float("x", 0.0, 1.0)))

    def overlap(self):
        return self.split


@pytest.mark.parametrize(
    ("split", "claimed"),
    [((1.0, 1.0), [3, 4, 5]), ((1.0, 0.1), []), ((0.2, 0.2), [])],
    ids=["overlap-pays", "training-too-short", "under-a-quarter-second"],
)
def test_auto_compiles_ahead_once_a_trial_shows_it_pays(tmp_path, split, claimed):
    runner = _Timed(split)
    tuner = hx.tuners.RandomSearch(runner, max_trials=6, seed=0, tracker=None, verbose=0,
                                   directory=tmp_path, compile_ahead="auto")  # fmt: skip
    tuner.search()
    assert [number for number, _ in runner.ahead] == claimed  # trial 1 decides, 2 claims 3
    trials = tuner.study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    for number, x in runner.ahead:  # the values built ahead are the trial's own
        assert trials[number].params["x"] == x


class _Interrupt(Callback):
    def __init__(self, at_trial: int) -> None:
        self.at_trial, self.seen = at_trial, 0

    def on_train_begin(self, trainer):
        self.seen += 1
        if self.seen == self.at_trial + 1:
            raise KeyboardInterrupt


def test_a_claimed_trial_goes_back_to_the_queue_and_the_rerun_runs_it(tmp_path, digits):
    x, y = digits
    options = dict(
        objective="val_accuracy", seed=0, tracker=None, verbose=0, directory=tmp_path,
        project_name="interrupted", compile_ahead=True, max_trials=4,
    )  # fmt: skip
    tuner = hx.tuners.RandomSearch(_hypermodel(), **options)
    with pytest.raises(KeyboardInterrupt):
        tuner.search(x, y, validation_split=0.25, epochs=2, batch_size=50,
                     callbacks=[_Interrupt(at_trial=1)])  # fmt: skip
    trials = tuner.study.get_trials()
    states = [t.state for t in trials]
    # trial 1 was interrupted (failed, queued again); trial 2, claimed ahead, went back
    assert states[:3] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING]
    claimed_params = trials[2].params
    again = hx.tuners.RandomSearch(_hypermodel(), **options)
    again.search(x, y, validation_split=0.25, epochs=2, batch_size=50)
    done = again.study.get_trials()
    assert not [t for t in done if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert sum(t.state == TrialState.COMPLETE for t in done) == 4
    # it keeps whatever its build ahead had sampled when the search stopped
    assert done[2].state == TrialState.COMPLETE
    assert claimed_params.items() <= done[2].params.items()


def test_compile_ahead_is_checked():
    with pytest.raises(ValueError, match="compile_ahead must be True, False or 'auto'"):
        hx.tuners.RandomSearch(lambda hp: 0.0, compile_ahead="yes", tracker=None)


def test_optuna_keeps_the_params_of_a_trial_put_back_in_the_queue():
    # the mechanism the release relies on: a WAITING trial's suggested values are kept
    study = optuna.create_study()
    trial = study.ask()
    value = trial.suggest_float("x", 0.0, 1.0)
    study._storage.set_trial_state_values(trial._trial_id, TrialState.WAITING)
    again = study.ask()
    assert again.number == trial.number and again.suggest_float("x", 0.0, 1.0) == value
