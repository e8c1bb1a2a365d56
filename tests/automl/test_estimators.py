import time

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import hyperflax as hx
from hyperflax.automl import TabularClassifier, TabularRegressor
from hyperflax.errors import DataError

FAST = dict(time_limit=60, families=["hgb", "linear"], max_trials=2, seed=0, n_folds=0)
LINEAR = dict(time_limit=60, families=["linear"], max_trials=1)


def test_breast_cancer_accuracy_and_leaderboard(cancer):
    X, y = cancer
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    clf = TabularClassifier(**FAST).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.9
    board = clf.leaderboard()
    assert list(board.columns) == [
        "model", "family", "hyperparameters", "validation_score", "fold_score_mean",
        "fold_score_std", "fit_time", "predict_time", "ensemble_weight", "mlflow_run_id",
        "n_models", "refit_full",
    ]  # fmt: skip
    # 426 rows: the chosen members were trained again on every row
    assert board.loc[board.ensemble_weight > 0, "refit_full"].all()
    assert len(board) == 2 and set(board["family"]) <= {"hgb", "linear"}
    assert board["ensemble_weight"].sum() == pytest.approx(1.0)
    assert board["validation_score"].is_monotonic_increasing  # log loss, best first
    assert list(clf.feature_names_in_) == list(X.columns) and clf.n_features_in_ == 30
    assert clf.predict_proba(X_test).shape == (len(X_test), 2)


def test_portfolio_runs_first_in_order(cancer):
    X, y = cancer
    clf = TabularClassifier(time_limit=60, families=["linear", "hgb"], max_trials=2).fit(X, y)
    board = clf.leaderboard().sort_values("model")
    assert board["family"].tolist() == ["hgb", "linear"]  # the portfolio's order


def test_mixed_table_string_labels_unseen_categories(mixed):
    X, y = mixed
    clf = TabularClassifier(**FAST).fit(X, y)
    assert set(clf.classes_) == {"no", "yes"}
    assert clf.score(X, y) > 0.8
    test = X.head(20).copy()
    test["few"] = pd.Categorical(["zzz"] * 20)  # unseen category
    test["many"] = None  # all missing
    test["num"] = np.nan
    assert set(clf.predict(test)) <= {"no", "yes"}
    assert np.isfinite(clf.predict_proba(test)).all()


def test_numpy_int_and_bool_labels(cancer):
    X, y = cancer
    for labels in (y.to_numpy() * 3 + 1, y.to_numpy() == 1):
        clf = TabularClassifier(time_limit=30, families=["linear"], max_trials=1)
        clf.fit(X.to_numpy(), labels)
        assert clf.predict(X.to_numpy()[:5]).dtype == labels.dtype


def test_multiclass_metric_choice():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    clf = TabularClassifier(**{**LINEAR, "metric": "balanced_accuracy"}).fit(X, y)
    assert clf.problem_type_ == "multiclass" and clf.metric_ == "balanced_accuracy"
    assert clf.score(X, y) > 0.9


def test_regression():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    reg = TabularRegressor(**FAST).fit(X_train, y_train)
    assert reg.score(X_test, y_test) > 0.15  # 0.24 measured at seed 0 on this split
    assert reg.leaderboard()["validation_score"].iloc[0] < 70  # rmse


def test_networks_share_programs_and_learn(cancer):
    X, y = cancer
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    clf = TabularClassifier(
        time_limit=90, presets="medium", families=["realmlp", "tabm", "mlp"], max_trials=3
    ).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.9
    assert set(clf.leaderboard()["family"]) - {"stack"} == {"realmlp", "tabm", "mlp"}


def test_network_candidates_train_in_populations_with_the_same_results(cancer):
    X, y = cancer
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    args = dict(
        time_limit=120, families=["mlp", "linear"], max_trials=4, seed=0, refit=False, n_folds=0
    )
    alone = TabularClassifier(**args).fit(X_train, y_train)
    started = time.monotonic()
    together = TabularClassifier(**args, population_size=3).fit(X_train, y_train)
    assert time.monotonic() - started < 120
    a, b = (clf.leaderboard().set_index("model") for clf in (alone, together))
    assert len(b) == 4 and set(b["family"]) == {"mlp", "linear"}
    same = [m for m in a.index if m in b.index and a.at[m, "hyperparameters"] == b.at[m,
            "hyperparameters"]]  # fmt: skip
    assert any(a.at[m, "family"] == "mlp" for m in same)
    for model in same:  # the same configuration scores the same, alone or in a population
        assert b.at[model, "validation_score"] == pytest.approx(
            a.at[model, "validation_score"], rel=1e-3
        )
    assert together.score(X_test, y_test) >= 0.9


def test_same_seed_same_result(cancer):
    X, y = cancer
    args = dict(time_limit=60, families=["linear", "mlp"], max_trials=3, seed=0, presets="fast")
    runs = [TabularClassifier(**args).fit(X, y).predict_proba(X) for _ in range(2)]
    np.testing.assert_array_equal(runs[0], runs[1])


def test_time_limit_is_kept(cancer):
    X, y = cancer
    started = time.monotonic()
    clf = TabularClassifier(time_limit=6, seed=0).fit(X, y)
    assert time.monotonic() - started < 6 * 1.1 + 2
    assert clf.score(X, y) > 0.9


@pytest.mark.parametrize("population_size", [1, 2])
def test_networks_without_time_left_end_the_search_instead_of_pruning_in_a_loop(
    tmp_path, cancer, population_size
):
    import optuna

    X, y = cancer
    TabularClassifier(time_limit=10, families=["mlp", "tabm"], presets="fast", seed=0,
                      directory=tmp_path, population_size=population_size).fit(X, y)  # fmt: skip
    study = optuna.load_study(study_name="automl", storage=f"sqlite:///{tmp_path}/automl/study.db")
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) >= 1
    # the last seconds (under MIN_NETWORK_S) used to prune one proposed network after another
    # (136 pruned trials here with populations of 2)
    assert states.count(optuna.trial.TrialState.PRUNED) <= 1, states


def test_too_small_budget_gives_clear_error_fast(cancer):
    X, y = cancer
    started = time.monotonic()
    with pytest.raises(hx.errors.TimeLimitError, match="time_limit"):
        TabularClassifier(time_limit=0.01).fit(X, y)
    assert time.monotonic() - started < 2


def test_pipeline_and_cross_val_score(cancer):
    X, y = cancer
    pipe = make_pipeline(
        StandardScaler(), TabularClassifier(time_limit=30, families=["linear"], max_trials=1)
    )
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.min() > 0.9


@pytest.mark.parametrize(
    ("params", "X", "y", "match"),
    [
        ({}, pd.DataFrame(), [], "must not be empty"),
        ({}, [[1.0], [2.0], [3.0]], [1, 1, 1], "at least 2 classes"),
        ({}, [[1.0], [2.0], [3.0]], [0, 1], "same number of rows"),
        ({}, [[1.0], [2.0], [3.0]], [0, 1, None], "missing values"),
        ({"metric": "rmse"}, [[1.0], [2.0]], [0, 1], "`metric` must be one of"),
        ({"time_limit": -1}, [[1.0], [2.0]], [0, 1], "`time_limit` must be"),
        ({"families": ["xgboost"]}, [[1.0], [2.0]], [0, 1], "`families` must be"),
        ({"presets": "huge"}, [[1.0], [2.0]], [0, 1], "`presets` must be"),
        ({"population_size": 0}, [[1.0], [2.0]], [0, 1], "`population_size` must be"),
    ],
)
def test_bad_input_is_refused_before_training(params, X, y, match):
    with pytest.raises(ValueError, match=match):
        TabularClassifier(**params).fit(X, y)


def test_nan_in_regression_target():
    with pytest.raises(DataError, match="missing values"):
        TabularRegressor().fit([[1.0], [2.0]], [1.0, np.nan])


def test_resume_continues_the_study_and_refuses_other_data(tmp_path, cancer):
    X, y = cancer
    args = dict(time_limit=60, families=["linear"], directory=tmp_path, seed=0)
    TabularClassifier(**args, max_trials=2).fit(X, y)
    clf = TabularClassifier(**args, max_trials=3).fit(X, y)
    assert sorted(clf.leaderboard()["model"]) == [
        "trial_0_linear", "trial_1_linear", "trial_2_linear",
    ]  # fmt: skip
    with pytest.raises(hx.errors.StudyMismatchError, match="other data"):
        TabularClassifier(**args, max_trials=4).fit(X.iloc[:300], y.iloc[:300])


def test_mlflow_tracking_records_run_ids(tmp_path, cancer):
    X, y = cancer
    clf = TabularClassifier(
        time_limit=60, families=["linear"], max_trials=1, tracker="mlflow", directory=tmp_path
    ).fit(X, y)
    board = clf.leaderboard()
    assert board.loc[board.family != "stack", "mlflow_run_id"].notna().all()


def test_the_kernel_family_classifies_regresses_and_round_trips(tmp_path):
    from sklearn.datasets import load_diabetes, load_digits
    from sklearn.metrics import log_loss

    X, y = load_digits(return_X_y=True)
    clf = TabularClassifier(time_limit=60, families=["kernel"], max_trials=1, seed=0)
    clf.fit(X[:1200], y[:1200])
    assert set(clf.leaderboard().family) - {"stack"} == {"kernel"}
    # measured over seeds 0-2: accuracy 0.941-0.943, log loss 0.182-0.188
    assert clf.score(X[1200:], y[1200:]) >= 0.9
    assert log_loss(y[1200:], clf.predict_proba(X[1200:]), labels=clf.classes_) < 0.3
    clf.save(tmp_path / "kernel")
    loaded = hx.automl.load(tmp_path / "kernel")
    np.testing.assert_allclose(loaded.predict_proba(X[1200:]), clf.predict_proba(X[1200:]))
    Xr, yr = load_diabetes(return_X_y=True)
    reg = TabularRegressor(time_limit=60, families=["kernel"], max_trials=1).fit(Xr[:350], yr[:350])
    assert reg.score(Xr[350:], yr[350:]) > 0.3  # measured 0.48-0.52 over seeds 0-2


def test_the_knn_family_classifies_regresses_and_round_trips(tmp_path):
    from sklearn.datasets import load_diabetes, load_digits

    X, y = load_digits(return_X_y=True)
    clf = TabularClassifier(time_limit=60, families=["knn"], max_trials=2, seed=0)
    clf.fit(X[:1200], y[:1200])
    assert set(clf.leaderboard().family) - {"stack"} == {"knn"}
    assert clf.score(X[1200:], y[1200:]) >= 0.85  # measured 0.92 (kNN on quantile-scaled pixels)
    clf.save(tmp_path / "knn")
    loaded = hx.automl.load(tmp_path / "knn")
    np.testing.assert_allclose(loaded.predict_proba(X[1200:]), clf.predict_proba(X[1200:]))
    Xr, yr = load_diabetes(return_X_y=True)
    reg = TabularRegressor(time_limit=60, families=["knn"], max_trials=1).fit(Xr[:350], yr[:350])
    assert reg.score(Xr[350:], yr[350:]) > 0.2
