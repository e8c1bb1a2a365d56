import pytest

import hyperflax as hx

MIN = hx.Objective("value", "min")


def test_exhausts_a_finite_space_exactly_once(tmp_path):
    tuner = hx.tuners.GridSearch(
        lambda hp: hp.Int("a", 0, 4, step=2) + hp.Float("b", 0.0, 0.5, step=0.25) + hp.Boolean("c"),
        objective=MIN,
    )
    tuner.search()
    points = {tuple(sorted(t.params.items())) for t in tuner.study.trials}
    assert len(tuner.study.trials) == len(points) == 3 * 3 * 2
    tuner.search()  # exhausted: a rerun adds nothing
    assert len(tuner.study.trials) == 18


def test_conditional_parameters_join_the_grid():
    def fn(hp):
        if hp.Choice("model", ["linear", "mlp"]) == "mlp":
            return hp.Choice("units", [16, 32, 64])
        return 0

    tuner = hx.tuners.GridSearch(fn, objective=MIN)
    tuner.search()
    seen = sorted((t.params["model"], t.params.get("units")) for t in tuner.study.trials)
    assert seen == [("linear", None), ("mlp", 16), ("mlp", 32), ("mlp", 64)]


def test_an_infinite_space_is_a_clear_error_at_definition():
    tuner = hx.tuners.GridSearch(lambda hp: hp.Float("lr", 1e-4, 1e-2, log=True), objective=MIN)
    with pytest.raises(
        hx.SearchSpaceError, match=r"'lr': a grid search needs a finite space; give Float a step="
    ):
        tuner.search()


def test_max_trials_caps_the_grid():
    tuner = hx.tuners.GridSearch(lambda hp: hp.Int("a", 0, 99), objective=MIN, max_trials=5)
    tuner.search()
    assert len(tuner.study.trials) == 5
    assert len({t.params["a"] for t in tuner.study.trials}) == 5


def test_a_trial_that_fails_before_asking_anything_does_not_end_the_grid():
    calls = []

    def fn(hp):
        calls.append(1)
        if len(calls) == 1:  # the first trial has no grid point yet: it discovers the space
            raise RuntimeError("failed before asking for a parameter")
        return hp.Int("a", 0, 2)

    tuner = hx.tuners.GridSearch(fn, objective=MIN, max_consecutive_failures=5)
    tuner.search()
    done = sorted(t.params["a"] for t in tuner.study.trials if t.state.name == "COMPLETE")
    assert done == [0, 1, 2]


def test_a_worker_waits_while_another_discovers_the_grid(tmp_path):
    # No trial has asked for its parameters yet: the grid is unknown. One discovery trial of
    # another worker is running, so planning a second (sampled) one could repeat a point.
    import optuna

    tuner = hx.tuners.GridSearch(
        lambda hp: float(hp.Int("x", 0, 3)), objective=hx.Objective("value", "min"),
        directory=tmp_path, tracker=None, verbose=0,
    )  # fmt: skip
    discovering = optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING)
    assert tuner.next_trial([discovering]) is None
    assert tuner.next_trial([]) is not None  # alone, the first trial discovers it
