"""Fixtures of the tracking tests."""

import pytest
from optuna.trial import TrialState
from tracking_helpers import finish, make_study


@pytest.fixture
def project(tmp_path):
    return tmp_path / "project"


@pytest.fixture
def mixed_trials():
    """A study with two complete trials, one pruned and one failed."""
    study = make_study()
    states = [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL]
    return study, [finish(study, state) for state in states]
