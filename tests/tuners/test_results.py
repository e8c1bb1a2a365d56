"""Results that read well: space summary, best history with lineage, metric columns, names."""

import pytest

import hyperflax as hx

LOSS = hx.Objective("loss", "min")


def curve(hp):
    x = hp.Float("x", -2.0, 2.0)
    if hp.Boolean("wide"):
        hp.Int("units", 8, 64, log=True)
    for epoch in range(9):
        hp.report({"loss": x * x + 1.0 / (epoch + 1), "aux": float(epoch)}, step=epoch)
    return {"loss": x * x + 1.0 / 9, "aux": 8.0}


@pytest.fixture
def hyperband(tmp_path):
    tuner = hx.tuners.Hyperband(
        curve, objective=LOSS, max_epochs=9, seed=0, directory=tmp_path, tracker=None, verbose=0
    )
    tuner.search()
    return tuner


def test_the_best_history_joins_the_trials_a_promoted_trial_continues(hyperband):
    best = hyperband.get_best_trials(1)[0]
    assert hx.tuners.TrialPlan.of(best).epochs == 9
    (history,) = hyperband.get_best_history()
    assert history.step.tolist() == list(range(9))  # from epoch 0, across the lineage
    assert set(history.columns) == {"step", "loss", "aux", "trial"}
    assert history.aux.tolist() == [float(s) for s in range(9)]
    assert history.trial.iloc[-1] == best.number
    if hx.tuners.TrialPlan.of(best).continues is not None:
        assert history.trial.nunique() > 1


def test_metrics_and_budget_are_columns_of_the_trials_dataframe(hyperband):
    frame = hyperband.trials_dataframe()
    assert {"metrics_loss", "metrics_aux", "budget", "error"} <= set(frame.columns)
    assert "metrics" not in frame.columns
    assert set(frame.budget) == {1, 3, 9}


def test_the_search_space_summary_lists_conditional_parameters(hyperband, capsys):
    hyperband.search_space_summary()
    out = capsys.readouterr().out
    assert "3 hyperparameters seen" in out
    assert "x" in out and "float" in out and "[-2, 2]" in out
    assert "units" in out and "log" in out and "wide" in out and "choice" in out


def test_the_objective_names_the_study_metric_for_optuna_tools(hyperband):
    assert hyperband.study.metric_names == ["loss"]
