import pytest

import hyperflax as hx
from hyperflax import errors


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (errors.SearchSpaceError, ValueError),
        (errors.DataError, ValueError),
        (errors.ArtifactError, ValueError),
        (errors.NonFiniteLossError, FloatingPointError),
        (errors.SearchFailedError, RuntimeError),
        (errors.FatalError, Exception),
    ],
)
def test_every_error_is_a_hyperflax_error_and_keeps_its_builtin_type(error, builtin):
    assert issubclass(error, hx.HyperflaxError)
    assert issubclass(error, builtin)


def test_public_names_are_the_same_classes():
    assert hx.SearchSpaceError is errors.SearchSpaceError
    assert hx.tuners.SearchFailedError is errors.SearchFailedError
    assert hx.trainers.DataError is errors.DataError
    assert hx.export.ArtifactError is errors.ArtifactError


def test_a_fatal_error_stops_the_search_at_once(tmp_path):
    calls = []

    def objective(hp):
        calls.append(hp.Float("x", 0.0, 1.0))
        if len(calls) == 2:
            raise hx.FatalError("the data set went away")
        return calls[-1]

    tuner = hx.tuners.RandomSearch(
        objective,
        objective=hx.Objective("value", "min"),
        max_trials=10,
        max_consecutive_failures=5,
        directory=tmp_path,
        tracker=None,
    )
    with pytest.raises(hx.FatalError, match="the data set went away"):
        tuner.search()
    frame = tuner.trials_dataframe()
    assert frame.state.tolist() == ["COMPLETE", "FAIL"]
    assert frame.error.iloc[1] == "FatalError: the data set went away"


def test_trial_number_is_known_inside_a_search(tmp_path):
    seen = []

    def objective(hp):
        seen.append(hp.trial_number)
        return hp.Float("x", 0.0, 1.0)

    tuner = hx.tuners.RandomSearch(
        objective,
        objective=hx.Objective("value", "min"),
        max_trials=3,
        directory=tmp_path,
        tracker=None,
    )
    tuner.search()
    assert seen == [0, 1, 2]
