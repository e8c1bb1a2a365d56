"""Several worker processes share one study through its storage: nothing lost or duplicated."""

import subprocess
import sys
import textwrap

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
        tuner = getattr(hx.tuners, kind)(objective, max_trials=16, **options)
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


def _start(tmp_path, storage_of, tuner, kind, n=3):
    storage = storage_of(kind)
    script = tmp_path / "worker.py"
    script.write_text(WORKER.replace("{tuner}", tuner))
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), storage],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
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
