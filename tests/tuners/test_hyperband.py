import pytest

import hyperflax as hx
from hyperflax.tuners import hyperband_schedule

MIN = hx.Objective("loss", "min")


def test_schedule_follows_li_et_al():
    brackets = hyperband_schedule(27, 3)
    assert [[(r.size, r.budget) for r in b] for b in brackets] == [
        [(27, 1), (9, 3), (3, 9), (1, 27)],
        [(12, 3), (4, 9), (1, 27)],
        [(6, 9), (2, 27)],
        [(4, 27)],
    ]
    assert len(hyperband_schedule(27, 3, iterations=2)) == 8


def _curve(hp):
    x = hp.Float("x", -2.0, 2.0)
    for epoch in range(100):
        hp.report(x * x + 1.0 / (epoch + 1), step=epoch)
    raise AssertionError("Hyperband must stop a trial at its budget")


def test_budgets_promotions_and_best_value(tmp_path):
    tuner = hx.tuners.Hyperband(_curve, objective=MIN, max_epochs=9, factor=3, seed=0)
    tuner.search()
    trials = tuner.study.trials
    assert len(trials) == 9 + 3 + 1 + 5 + 1 + 3
    by_number = {t.number: t for t in trials}
    plans = {t.number: hx.tuners.TrialPlan.of(t) for t in trials}
    last_round = {b[-1].bracket: b[-1].round for b in hyperband_schedule(9, 3)}
    for t in trials:
        plan = plans[t.number]
        assert t.state.name == "COMPLETE"
        assert max(t.intermediate_values) == plan.epochs - 1  # stopped exactly at its budget
        assert t.value == pytest.approx(t.params["x"] ** 2 + 1.0 / plan.epochs)  # best epoch
        if plan.tags["round"] > 0:
            assert by_number[plan.continues].params == t.params
            siblings = [
                s
                for s in trials
                if plans[s.number].tags["round"] == plan.tags["round"] - 1
                and plans[s.number].tags["bracket"] == plan.tags["bracket"]
            ]
            promoted = sorted(siblings, key=lambda s: s.value)[: len(siblings) // 3]
            assert plan.continues in {s.number for s in promoted}
        # only trials a later round may continue keep their full training state
        assert plan.keep_state == (plan.tags["round"] < last_round[plan.tags["bracket"]])
    assert plans[tuner.get_best_trials()[0].number].epochs == 9


def test_max_epochs_and_factor_are_validated():
    with pytest.raises(ValueError, match="factor must be an int >= 2, got 1"):
        hx.tuners.Hyperband(_curve, objective=MIN, max_epochs=9, factor=1)
    with pytest.raises(ValueError, match="max_epochs must be an int >= 1, got 0"):
        hx.tuners.Hyperband(_curve, objective=MIN, max_epochs=0)


def test_a_pruner_stops_bad_trials_early():
    def fn(hp):
        x = hp.Float("x", 0.0, 1.0)
        for epoch in range(20):
            hp.report(x + 1.0 / (epoch + 1), step=epoch)
        return x + 0.05

    tuner = hx.tuners.RandomSearch(fn, objective=MIN, max_trials=20, seed=0, pruner="median")
    tuner.search()
    pruned = [t for t in tuner.study.trials if t.state.name == "PRUNED"]
    assert pruned and all(len(t.intermediate_values) < 20 for t in pruned)
