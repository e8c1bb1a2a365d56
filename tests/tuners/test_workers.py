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

    tuner = hx.tuners.{tuner}(
        objective, objective=hx.Objective("value", "min"), max_trials=16,
        directory=sys.argv[1], project_name="shared", storage=sys.argv[2], tracker=None)
    tuner.search()
    """
)


@pytest.mark.parametrize("tuner", ["RandomSearch", "BayesianOptimization"])
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_three_workers_share_one_study(tmp_path, tuner, kind):
    storage = (
        f"sqlite:///{tmp_path / 'study.db'}"
        if kind == "sqlite"
        else f"journal://{tmp_path / 'j.log'}"
    )
    script = tmp_path / "worker.py"
    script.write_text(WORKER.replace("{tuner}", tuner))
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), storage],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for worker in workers:
        assert worker.wait(timeout=300) == 0, worker.stderr.read()
    if kind == "sqlite":
        study = optuna.load_study(study_name="shared", storage=storage)
    else:
        backend = optuna.storages.journal.JournalFileBackend(str(tmp_path / "j.log"))
        study = optuna.load_study(
            study_name="shared", storage=optuna.storages.JournalStorage(backend)
        )
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") >= 16
    assert states.count("COMPLETE") <= 16 + 2  # at most one in flight per other worker
    assert "RUNNING" not in states and "FAIL" not in states
    owners = {t.user_attrs["hx:owner"].rsplit(":", 2)[1] for t in study.trials}
    assert len(owners) >= 2  # the workers really shared the study
    params = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(params)) == len(params)
