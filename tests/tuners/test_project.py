"""Project names: what is searched names the study, and another search never resumes it."""

import sqlite3

import pytest

import hyperflax as hx

MIN = hx.Objective("value", "min")


def first(hp):
    return hp.Float("x", 0.0, 1.0)


def second(hp):
    return hp.Int("n", 0, 9) / 10


def test_the_default_project_is_named_for_the_searched_function(tmp_path):
    a = hx.tuners.RandomSearch(first, objective=MIN, directory=tmp_path, tracker=None)
    b = hx.tuners.RandomSearch(second, objective=MIN, directory=tmp_path, tracker=None)
    assert a.project_name == "tests.tuners.test_project.first"
    assert b.project_name == "tests.tuners.test_project.second"
    a.search()
    b.search()  # its own study: the first one's 10 trials do not count here
    assert len(b.study.trials) == 10
    assert set(b.trials_dataframe().columns) >= {"params_n"}
    assert "params_n" not in a.trials_dataframe().columns


def test_a_hypermodel_project_is_named_for_its_build_function():
    def build(hp, rngs):
        raise AssertionError("not built")

    tuner = hx.tuners.RandomSearch(hx.HyperModel(build), tracker=None)
    assert tuner.project_name.endswith(
        "test_a_hypermodel_project_is_named_for_its_build_function.build"
    )


def test_another_search_in_the_same_project_is_refused_with_the_fix(tmp_path):
    hx.tuners.RandomSearch(
        first, objective=MIN, directory=tmp_path, project_name="shared", max_trials=2, tracker=None
    ).search()
    other = hx.tuners.RandomSearch(
        second, objective=MIN, directory=tmp_path, project_name="shared", tracker=None
    )
    expected = r"searched='tests.tuners.test_project.first'.*another project_name.*overwrite=True"
    with pytest.raises(ValueError, match=expected):
        other.search()


def test_a_resumed_search_says_so(tmp_path, capsys):
    def make(max_trials):
        return hx.tuners.RandomSearch(
            first, objective=MIN, directory=tmp_path, max_trials=max_trials, tracker=None
        )

    make(3).search()
    assert "searching tests.tuners.test_project.first" in capsys.readouterr().out
    make(4).search()
    out = capsys.readouterr().out
    assert "resuming study tests.tuners.test_project.first" in out and "3 trials done" in out
    assert out.count("\ntrial ") + out.startswith("trial ") == 1


def test_verbose_zero_prints_nothing_and_bad_verbose_is_refused(tmp_path, capsys):
    hx.tuners.RandomSearch(
        first, objective=MIN, directory=tmp_path, max_trials=2, tracker=None, verbose=0
    ).search()
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="verbose must be 0, 1 or 2, got 3"):
        hx.tuners.RandomSearch(first, objective=MIN, verbose=3)


def test_progress_lines_show_state_value_params_best_and_eta(tmp_path, capsys):
    def fn(hp):
        x = hp.Float("x", 0.0, 1.0)
        if hp.trial_number == 1:
            raise RuntimeError("boom")
        return x

    hx.tuners.RandomSearch(
        fn, objective=MIN, directory=tmp_path, max_trials=3, seed=0, tracker=None,
        max_consecutive_failures=3,
    ).search()  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    trial_lines = [line for line in lines if line.startswith("trial ")]
    assert len(trial_lines) == 4
    assert "complete value=" in trial_lines[0] and "x=" in trial_lines[0]
    assert "| best " in trial_lines[0] and "| 1/3 |" in trial_lines[0] and "ETA" in trial_lines[0]
    assert (
        "failed" in trial_lines[1]
        and "RuntimeError: boom" in lines[lines.index(trial_lines[1]) + 1]
    )
    assert lines[-1].startswith("search done in") and "3 complete, 1 fail" in lines[-1]


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        (
            "sqlite://runs/study.db",
            r"three slashes before a relative path: sqlite:///runs/study.db",
        ),
        ("runs/study.db", r"not a URL.*use one of: sqlite:///relative/study.db"),
        ("mongodb://host/db", r"unknown database 'mongodb'"),
    ],
)
def test_a_malformed_storage_url_is_refused_at_once_with_the_forms(storage, message):
    with pytest.raises(ValueError, match=message):
        hx.tuners.RandomSearch(first, objective=MIN, storage=storage)


def test_ctrl_c_says_how_to_resume(tmp_path):
    def interrupted(hp):
        hp.Float("x", 0.0, 1.0)
        if hp.trial_number == 2:
            raise KeyboardInterrupt
        return 0.5

    tuner = hx.tuners.RandomSearch(
        interrupted, objective=MIN, directory=tmp_path, max_trials=5, tracker=None, verbose=0
    )
    with pytest.raises(KeyboardInterrupt, match=r"2 complete trials kept.*rerun the same code"):
        tuner.search()


def test_neighbouring_seeds_do_not_replay_each_other(tmp_path):
    runs = []
    for seed in (0, 1):
        tuner = hx.tuners.RandomSearch(
            first, objective=MIN, directory=tmp_path / str(seed), max_trials=6, seed=seed,
            tracker=None, verbose=0,
        )  # fmt: skip
        tuner.search()
        runs.append([t.params["x"] for t in tuner.study.trials])
    assert not set(runs[0]) & set(runs[1])


def test_next_trial_is_not_asked_once_max_trials_is_reached(tmp_path):
    calls = []

    class Counting(hx.tuners.RandomSearch):
        def next_trial(self, trials):
            calls.append(len(trials))
            return super().next_trial(trials)

    Counting(first, objective=MIN, directory=tmp_path, max_trials=3, tracker=None,
             verbose=0).search()  # fmt: skip
    assert calls == [0, 1, 2]


def test_progress_keeps_a_best_value_of_zero(tmp_path, capsys):
    values = iter([1.0, 0.0, 2.0])
    hx.tuners.RandomSearch(
        lambda hp: hp.Float("x", 0.0, 1.0) * 0 + next(values), objective=MIN,
        directory=tmp_path, max_trials=3, tracker=None,
    ).search()  # fmt: skip
    assert capsys.readouterr().out.splitlines()[-1].endswith("best value 0 (trial 1)")


def test_a_sqlite_study_is_written_while_another_process_reads_it(tmp_path):
    def search(max_trials):
        tuner = hx.tuners.RandomSearch(
            first, objective=MIN, directory=tmp_path, max_trials=max_trials, tracker=None,
            verbose=0,
        )  # fmt: skip
        tuner.search()
        return tuner

    search(2)
    reader = sqlite3.connect(tmp_path / "tests.tuners.test_project.first" / "study.db")
    assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM trials").fetchone() == (2,)  # holds a read lock
    assert len(search(4).study.trials) == 4  # the rollback journal would wait for the reader
    assert reader.execute("SELECT count(*) FROM trials").fetchone() == (2,)  # its snapshot
    reader.close()
