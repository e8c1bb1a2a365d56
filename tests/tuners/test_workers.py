"""Several worker processes share one study through its storage: nothing lost or duplicated."""

import subprocess
import sys
import textwrap
import time

import optuna
import pytest

WORKER = textwrap.dedent(
    """
    import sys, time
    import hyperflax as hx

    def objective(hp):
        time.sleep(0.2)  # long enough for the workers to interleave
        return hp.Float("x", -5.0, 5.0) ** 2 + hp.Int("k", 0, 1000)

    def stepped(hp):
        time.sleep(0.05)
        x = hp.Int("x", 0, 5)
        for epoch in range(9):
            hp.report((x - 2) ** 2 + 1.0 / (epoch + 1), step=epoch)
        return (x - 2) ** 2 + hp.Choice("k", [0.0, 0.5])

    options = dict(objective=hx.Objective("value", "min"), directory=sys.argv[1],
                   project_name="shared", storage=sys.argv[2], tracker=None, seed=0, verbose=0)
    kind = "{tuner}"
    if kind == "GridSearch":
        tuner = hx.tuners.GridSearch(stepped, **options)
    elif kind == "Hyperband":
        tuner = hx.tuners.Hyperband(stepped, max_epochs=9, **options)
    else:
        max_trials = int(sys.argv[3]) if len(sys.argv) > 3 else 16
        tuner = getattr(hx.tuners, kind)(objective, max_trials=max_trials, **options)
    tuner.search()
    """
)


@pytest.fixture
def storage_of(tmp_path, request):
    """The storage URL of a kind: a SQLite file, a journal file or a PostgreSQL database."""

    def storage(kind):
        if kind == "postgresql":
            return request.getfixturevalue("postgresql_url")
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / 'study.db'}"
        return f"journal://{tmp_path / 'j.log'}"

    return storage


def _launch(tmp_path, tuner, storage, n=3, *extra):
    script = tmp_path / "worker.py"
    script.write_text(WORKER.replace("{tuner}", tuner))
    command = [sys.executable, str(script), str(tmp_path), storage, *extra]
    return [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(n)]


def _start(tmp_path, storage_of, tuner, kind, n=3):
    storage = storage_of(kind)
    workers = _launch(tmp_path, tuner, storage, n)
    for worker in workers:
        assert worker.wait(timeout=300) == 0, worker.stderr.read()
    if kind != "journal":
        return optuna.load_study(study_name="shared", storage=storage)
    backend = optuna.storages.journal.JournalFileBackend(str(tmp_path / "j.log"))
    return optuna.load_study(study_name="shared", storage=optuna.storages.JournalStorage(backend))


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
    workers = _launch(tmp_path, "RandomSearch", postgresql_url, 3, "40")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # restart once the search is well under way
        try:
            study = optuna.load_study(study_name="shared", storage=postgresql_url)
            if sum(t.state.name == "COMPLETE" for t in study.trials) >= 5:
                break
        except KeyError:  # the study does not exist yet
            pass
        time.sleep(0.2)
    postgresql_server.restart(down_s=3.0)
    for worker in workers:
        assert worker.wait(timeout=300) == 0, worker.stderr.read()
    study = optuna.load_study(study_name="shared", storage=postgresql_url)
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 40 and "RUNNING" not in states
    assert "retrying" in "".join(w.stderr.read() for w in workers)  # the outage was seen


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
