"""Workers SIGKILLed mid-trial and restarted: every tuner on every storage still ends exact.

Three workers share one study; a seeded schedule SIGKILLs two of them inside a trial (see
``tests/tuners/_workers.py`` for the handshake that makes the kill land there) and starts a
fresh process with the same command in each one's place. Once every worker has exited 0 the
study must hold the whole search (``max_trials``, the full grid or the full Hyperband
schedule) exactly once, nothing running or queued, and each killed trial failed and retried
exactly once with its configuration and plan. The default run covers each tuner and each
storage once; the rest of the matrix is ``slow`` (``python -m bench.workers --faults`` runs it
all).
"""

import pytest

from tests.tuners._workers import EXPECTED_COMPLETE, fault_run

KINDS = ("sqlite", "journal", "postgresql")
DEFAULT_RUN = {
    ("RandomSearch", "sqlite"),
    ("BayesianOptimization", "journal"),
    ("GridSearch", "postgresql"),
    ("Hyperband", "journal"),
}
CASES = [
    pytest.param(tuner, kind, marks=() if (tuner, kind) in DEFAULT_RUN else pytest.mark.slow)
    for tuner in EXPECTED_COMPLETE
    for kind in KINDS
]


@pytest.mark.parametrize(("tuner", "kind"), CASES)
def test_workers_killed_mid_trial_leave_the_study_exact(tmp_path, storage_of, tuner, kind):
    found, expected = fault_run(tmp_path, tuner, storage_of(kind), kills=2, seed=len(tuner))
    assert found == expected
