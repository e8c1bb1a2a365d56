"""Several worker processes share one study through its storage: nothing lost or duplicated."""

import time

import optuna
import pytest

from tests.tuners._workers import Workers, load_study


def _start(tmp_path, storage_of, tuner, kind):
    storage = storage_of(kind)
    stepped = tuner in ("GridSearch", "Hyperband")
    with Workers(tmp_path, tuner, storage, trial_s=0.05 if stepped else 0.2) as workers:
        workers.run(timeout_s=300)
    return load_study(storage)


@pytest.mark.parametrize("tuner", ["RandomSearch", "BayesianOptimization"])
@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_three_workers_with_one_seed_share_one_study_exactly(tmp_path, storage_of, tuner, kind):
    study = _start(tmp_path, storage_of, tuner, kind)
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 16  # never more than max_trials
    assert "RUNNING" not in states and "FAIL" not in states
    owners = {t.user_attrs["hx:owner"].rsplit(":", 2)[1] for t in study.trials}
    assert len(owners) >= 2  # the workers really shared the study
    params = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(params)) == len(params)  # one seed, yet no worker replays another


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_three_workers_run_a_grid_exactly_once(tmp_path, storage_of, kind):
    study = _start(tmp_path, storage_of, "GridSearch", kind)
    params = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(params) == 12 and len(set(params)) == 12  # 6 x values x 2 k values, once each
    assert {t.state.name for t in study.trials} == {"COMPLETE"}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_three_workers_run_the_hyperband_schedule_exactly(tmp_path, storage_of, kind):
    study = _start(tmp_path, storage_of, "Hyperband", kind)
    assert len(study.trials) == 22 and {t.state.name for t in study.trials} == {"COMPLETE"}
    parents = [t.user_attrs["hx:plan"].get("continues") for t in study.trials]
    promoted = [p for p in parents if p is not None]
    assert len(promoted) == len(set(promoted))  # no parent promoted twice


def test_workers_survive_a_database_restart(tmp_path, postgresql_server, postgresql_url):
    with Workers(tmp_path, "RandomSearch", postgresql_url, max_trials=40) as workers:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # restart once the search is well under way
            try:
                study = load_study(postgresql_url)
                if sum(t.state.name == "COMPLETE" for t in study.trials) >= 5:
                    break
            except KeyError:  # the study does not exist yet
                pass
            time.sleep(0.2)
        postgresql_server.restart(down_s=3.0)
        workers.run(timeout_s=300)
    study = load_study(postgresql_url)
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 40 and "RUNNING" not in states
    assert "retrying" in workers.stderr()  # the outage was seen


def test_a_database_down_past_the_bound_stops_with_a_clear_error(postgresql_server, postgresql_url):
    from hyperflax.errors import StorageUnavailableError
    from hyperflax.tuners._storage import RetryingRDBStorage

    storage = RetryingRDBStorage(postgresql_url, retry_for_s=1.0)
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "down")
    postgresql_server.stop()
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError, match=r"(?s)failed for 1 s in a row.*rerun"):
            storage.create_new_trial(study_id)
        assert time.monotonic() - started < 10
    finally:
        postgresql_server.start()
    assert storage.get_n_trials(study_id) == 0  # and the storage works again
