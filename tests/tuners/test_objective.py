import pytest

import hyperflax as hx


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("val_loss", "minimize"),
        ("loss", "minimize"),
        ("val_error", "minimize"),
        ("mse", "minimize"),
        ("val_mae", "minimize"),
        ("val_accuracy", "maximize"),
        ("auc", "maximize"),
        ("val_r2", "maximize"),
        ("f1", "maximize"),
    ],
)
def test_direction_is_inferred_for_well_known_names(name, direction):
    assert hx.tuners.as_objective(name).direction == direction


def test_unknown_name_without_direction_is_an_error():
    with pytest.raises(ValueError, match=r"'throughput' has no known direction.*hx.Objective"):
        hx.tuners.RandomSearch(lambda hp: 1.0, objective="throughput")


def test_explicit_objective_and_bad_direction():
    assert hx.Objective("throughput", "max").direction == "maximize"
    with pytest.raises(ValueError, match=r"direction must be one of.*got 'up'"):
        hx.Objective("throughput", "up")


def test_dict_results_pick_the_objective_and_keep_the_rest(tmp_path):
    tuner = hx.tuners.RandomSearch(
        lambda hp: {"val_loss": hp.Float("x", 0.0, 1.0), "val_accuracy": 0.5},
        max_trials=2,
        directory=tmp_path,
    )
    tuner.search()
    trial = tuner.get_best_trials()[0]
    assert trial.value == trial.params["x"]
    assert trial.user_attrs["hx:metrics"] == {"val_loss": trial.value, "val_accuracy": 0.5}


def test_a_dict_without_the_objective_fails_the_trial_naming_the_metrics(tmp_path):
    tuner = hx.tuners.RandomSearch(
        lambda hp: {"loss": 1.0}, max_trials=2, directory=tmp_path, max_consecutive_failures=1
    )
    with pytest.raises(hx.tuners.SearchFailedError, match=r"'val_loss' is not among.*\['loss'\]"):
        tuner.search()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_trials": 0}, r"max_trials must be an int >= 1 or None, got 0"),
        ({"max_consecutive_failures": 0}, r"max_consecutive_failures must be an int >= 1, got 0"),
        ({"time_limit": -1}, r"time_limit must be a number of seconds > 0, got -1"),
        ({"seed": -3}, r"seed must be an int >= 0 or None, got -3"),
        ({"pruner": "fastest"}, r"pruner must be one of \['asha', 'hyperband', 'median'"),
        ({"project_name": "a/b"}, r"project_name must be a plain folder name"),
        ({"storage": 3}, r"storage must be a URL str or an Optuna storage, got 3"),
    ],
)
def test_constructor_errors(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        hx.tuners.RandomSearch(lambda hp: 1.0, **kwargs)


def test_a_function_that_returns_nothing_fails_with_a_clear_error(tmp_path):
    def forgot_return(hp):
        hp.report(hp.Float("x", 0.0, 1.0), step=0)

    tuner = hx.tuners.RandomSearch(
        forgot_return, objective="loss", max_trials=1, max_consecutive_failures=1, tracker=None
    )
    with pytest.raises(hx.tuners.SearchFailedError, match="must return a number or a dict"):
        tuner.search()
