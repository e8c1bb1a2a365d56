import optuna

from hyperflax.tracking._plots import save_plots


def names(directory):
    return sorted(path.name for path in directory.iterdir())


def test_all_plots_of_a_study_with_two_parameters(tmp_path):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("n", 1, 4), n_trials=4)
    saved = save_plots(study, tmp_path)
    assert sorted(path.name for path in saved) == names(tmp_path)
    assert names(tmp_path) == [
        "optimization_history.png",
        "parallel_coordinate.png",
        "param_importances.png",
    ]
    assert all(path.stat().st_size > 1000 for path in saved)


def test_plots_that_cannot_be_made_are_skipped(tmp_path):
    study = optuna.create_study()
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    save_plots(study, tmp_path)
    assert "param_importances.png" not in names(tmp_path)
    assert "optimization_history.png" in names(tmp_path)


def test_study_without_complete_trials_has_no_plots(tmp_path):
    assert save_plots(optuna.create_study(), tmp_path) == []
    assert names(tmp_path) == []
