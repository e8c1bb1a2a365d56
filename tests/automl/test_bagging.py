"""k-fold bagging, out-of-fold predictions, group and time-ordered folds, threshold, refit_full."""

import jax
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.metrics import balanced_accuracy_score, log_loss
from sklearn.model_selection import train_test_split

import hyperflax as hx
from hyperflax.automl import TabularClassifier, TabularRegressor
from hyperflax.automl._folds import kfold
from hyperflax.automl._metrics import with_temperature
from hyperflax.automl._task import Task
from hyperflax.errors import DataError
from hyperflax.trainers import CompilationCounter

LINEAR = {"time_limit": 60, "families": ["linear"], "max_trials": 1}


def test_bagged_candidates_cover_every_row_once_per_repeat(cancer):
    X, y = cancer
    clf = TabularClassifier(**LINEAR, n_folds=3, n_repeats=2, stack=False).fit(X, y)
    oof = clf.oof_predictions_
    assert oof.shape == (len(X), 2) and oof.dtype == np.float32
    assert not np.isnan(oof).any()
    np.testing.assert_allclose(oof.sum(axis=1), 1.0, atol=1e-5)
    board = clf.leaderboard()
    assert board["n_models"].tolist() == [6]
    assert np.isfinite(board["fold_score_std"]).all() and (board["fold_score_std"] > 0).all()
    # the ensemble's score is that of its out-of-fold predictions of every row
    assert clf.validation_score_ == pytest.approx(
        hx.automl._metrics.CLASSIFICATION["log_loss"](np.asarray(y), oof.astype(np.float64)),
        rel=1e-4,
    )
    np.testing.assert_array_equal(clf.oof_predictions(board["model"][0]), oof)


def test_out_of_fold_predictions_are_honest_where_in_sample_ones_are_not():
    """Labels that are noise: nearest neighbours memorize them, folds see it."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = rng.integers(0, 2, 300)
    clf = TabularClassifier(
        time_limit=60, families=["knn"], max_trials=1, n_folds=5, metric="accuracy",
        calibrate_threshold=False, stack=False,
    ).fit(X, y)  # fmt: skip
    assert clf.score(X, y) == 1.0  # distance weights: every training row is its own neighbour
    oof_accuracy = (clf.oof_predictions_.argmax(1) == y).mean()
    assert oof_accuracy < 0.62  # chance is 0.5: measured 0.45-0.56 over 8 seeds


def test_group_folds_never_validate_on_a_group_seen_in_training():
    """Each group has one random label and its own feature value: a model that has seen a
    group predicts it perfectly; unseen groups are a coin toss."""
    rng = np.random.default_rng(1)
    group = np.repeat(np.arange(80), 5)
    X = pd.DataFrame({"g": group.astype(float), "noise": rng.normal(size=len(group))})
    y = rng.integers(0, 2, 80)[group]
    options = dict(time_limit=60, families=["knn"], max_trials=1, n_folds=4, seed=0)
    mixed = TabularClassifier(**options).fit(X[["g"]], y)
    grouped = TabularClassifier(**options).fit(X[["g"]], y, groups=group)
    assert (mixed.oof_predictions_.argmax(1) == y).mean() > 0.9
    # chance is 0.5: 0.40-0.63 over 8 seeds
    assert (grouped.oof_predictions_.argmax(1) == y).mean() < 0.7


def test_kfold_keeps_groups_whole_and_covers_every_row():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 25, 200)
    targets = rng.integers(0, 3, 200)
    folds = kfold(targets, Task("multiclass", 3), n_folds=5, n_repeats=2, seed=0, groups=groups)
    assert len(folds) == 10
    for train, val in folds:
        assert not set(groups[train]) & set(groups[val])
    for repeat in (folds[:5], folds[5:]):
        assert sorted(np.concatenate([v for _, v in repeat]).tolist()) == list(range(200))


def test_time_ordered_folds_validate_on_later_rows_only():
    X, y = load_diabetes(return_X_y=True)
    reg = TabularRegressor(**LINEAR, n_folds=3, time_ordered=True).fit(X, y)
    oof = reg.oof_predictions_
    first = len(X) // 4  # TimeSeriesSplit(3): the first quarter trains only
    assert np.isnan(oof[:first]).all() and not np.isnan(oof[first + 2 :]).any()
    assert reg.leaderboard()["n_models"].tolist() == [3]


def test_binary_threshold_is_calibrated_on_out_of_fold_predictions():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3))
    y = (X[:, 0] + 0.8 * rng.normal(size=600) > 1.2).astype(int)  # about 15% positives
    clf = TabularClassifier(**LINEAR, n_folds=5, metric="balanced_accuracy").fit(X, y)
    threshold = clf.decision_threshold_
    assert 0.0 < threshold < 0.4  # rare positives: 0.10-0.23 over 8 seeds
    oof = clf.oof_predictions_[:, 1]
    calibrated = balanced_accuracy_score(y, oof >= threshold)
    # measured +0.06 to +0.14 over 8 seeds
    assert calibrated >= balanced_accuracy_score(y, oof >= 0.5) + 0.03
    proba = clf.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(clf.predict(X), (proba >= threshold).astype(int))
    held_out = TabularClassifier(**LINEAR, n_folds=0, metric="balanced_accuracy").fit(X, y)
    assert held_out.decision_threshold_ == 0.5  # a held-out split is not calibrated on


def test_log_loss_fits_a_temperature_that_held_out_rows_confirm(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 0.1 * rng.normal(size=120) > 0).astype(int)  # separable: too unsure
    clf = TabularClassifier(**LINEAR, n_folds=5, stack=False).fit(X, y)
    assert clf.temperature_ < 0.5  # sharpened: 0.25-0.40 over 6 seeds
    oof = clf.oof_predictions_.astype(np.float64)
    assert clf.validation_score_ < log_loss(y, oof)  # the cross-checked estimate
    raw = clf.predict_proba(X, model=clf.leaderboard()["model"][0])
    np.testing.assert_allclose(clf.predict_proba(X), with_temperature(raw, clf.temperature_))
    clf.save(tmp_path / "m")
    np.testing.assert_array_equal(
        hx.automl.load(tmp_path / "m").predict_proba(X), clf.predict_proba(X)
    )

    noise = TabularClassifier(**LINEAR, n_folds=5).fit(X, rng.integers(0, 2, 120))
    assert noise.temperature_ == 1.0  # already too sure: never softened (see fit_temperature)
    accuracy = TabularClassifier(**LINEAR, n_folds=5, metric="accuracy").fit(X, y)
    assert accuracy.temperature_ == 1.0  # only a log loss pays for confidence


def test_refit_full_gives_one_model_per_member_close_to_the_bagged_one(cancer):
    X, y = cancer
    X_train, X_test, y_train, _ = train_test_split(X, y, random_state=0, stratify=y)
    clf = TabularClassifier(**LINEAR, n_folds=5, stack=False).fit(X_train, y_train)
    bagged = clf.predict_proba(X_test)
    board = clf.refit_full().leaderboard()
    assert board["refit_full"].tolist() == [True] and board["n_models"].tolist() == [1]
    assert np.abs(clf.predict_proba(X_test) - bagged).mean() < 0.02
    with pytest.raises(ValueError, match="refit_full\\(\\) needs a bagged fit"):
        clf.refit_full()


def test_candidates_predict_alone_and_a_saved_bagged_model_predicts_the_same(cancer, tmp_path):
    X, y = cancer
    clf = TabularClassifier(
        time_limit=60, families=["linear", "hgb"], max_trials=2, n_folds=3, stack=False
    ).fit(X, y)
    names = clf.leaderboard()["model"].tolist()
    assert len({tuple(clf.predict_proba(X[:20], model=n)[:, 1].round(6)) for n in names}) == 2
    with pytest.raises(ValueError, match=r"`model` must be None .* got 'nope'"):
        clf.predict(X, model="nope")
    clf.save(tmp_path / "m")
    again = hx.automl.load(tmp_path / "m")
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(again.oof_predictions_, clf.oof_predictions_)


def test_same_seed_same_bagged_result(cancer):
    X, y = cancer
    options = dict(time_limit=60, families=["linear", "hgb"], max_trials=3, n_folds=3, seed=3)
    a = TabularClassifier(**options).fit(X, y)
    b = TabularClassifier(**options).fit(X, y)
    np.testing.assert_array_equal(a.oof_predictions_, b.oof_predictions_)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


@pytest.mark.parametrize(
    ("params", "groups", "match"),
    [
        ({"n_folds": 1}, None, "`n_folds` must be None .*, 0 .* or an int >= 2"),
        ({"n_repeats": 0}, None, "`n_repeats` must be an int >= 1, got 0"),
        ({"n_seeds": 0}, None, "`n_seeds` must be an int >= 1, got 0"),
        ({"n_repeats": 2, "presets": "fast"}, None, "`n_repeats=2` repeats k-fold bagging"),
        ({"n_folds": 3, "n_repeats": 2, "time_ordered": True}, None, "time_ordered=False"),
        ({"calibrate_threshold": "yes"}, None, "`calibrate_threshold` must be True, False"),
        ({"n_folds": 40}, None, "`n_folds` must be at most the number of rows"),
        ({"n_folds": 3}, [0, 1], "`groups` must hold one label per row of X"),
        ({"n_folds": 3}, [np.nan] + [1.0] * 29, "`groups` must not contain missing values"),
        ({"n_folds": 3}, [7] * 30, "`groups` must hold at least 2 distinct groups"),
    ],
)
def test_bad_bagging_arguments_are_named(params, groups, match):
    X = np.random.default_rng(0).normal(size=(30, 2))
    y = np.arange(30) % 2
    with pytest.raises((ValueError, DataError), match=match):
        TabularClassifier(**LINEAR, **params).fit(X, y, groups=groups)


def _xor(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] * X[:, 1] > 0).astype(int)


def test_a_stack_layer_is_kept_when_it_beats_the_ensemble(tmp_path):
    """A linear model cannot learn XOR; the stacker sees the features and can."""
    X, y = _xor()
    X_test, y_test = _xor(seed=1)
    clf = TabularClassifier(**LINEAR, n_folds=3).fit(X, y)
    check = clf.stack_check_
    assert check["kept"] and check["stack"] < check["ensemble"] - 0.1
    board = clf.leaderboard()
    assert board["model"][0] == "stack_hgb" and board["ensemble_weight"].tolist() == [1.0, 0.0]
    assert board["hyperparameters"][0]["inputs"] == [board["model"][1]]
    assert clf.score(X_test, y_test) > 0.85  # the linear member alone is near 0.5
    assert clf.predict_proba(X_test, model=board["model"][1])[:, 1].std() < 0.15
    np.testing.assert_array_equal(clf.predict(X_test, model="stack_hgb"), clf.predict(X_test))
    clf.save(tmp_path / "m")
    np.testing.assert_array_equal(
        hx.automl.load(tmp_path / "m").predict_proba(X_test), clf.predict_proba(X_test)
    )
    with pytest.raises(ValueError, match="fit with stack=False"):
        clf.refit_full()
    plain = TabularClassifier(**LINEAR, n_folds=3, stack=False).fit(X, y)
    assert plain.stack_ is None and plain.score(X_test, y_test) < 0.7  # 0.47-0.61, 6 seeds


def test_a_stack_on_noise_is_not_fooled_by_models_that_memorize():
    """Nearest neighbours reproduce their training labels exactly: a stacker trained on their
    in-sample predictions would look perfect out of fold. Out-of-fold inputs keep it honest."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    y = rng.integers(0, 2, 400)
    clf = TabularClassifier(time_limit=60, families=["knn", "linear"], max_trials=2, n_folds=5).fit(
        X, y
    )
    assert clf.validation_score_ > 0.6  # log loss; a leaky stack would be near 0
    assert (clf.oof_predictions_.argmax(1) == y).mean() < 0.62
    X_new, y_new = rng.normal(size=(400, 4)), rng.integers(0, 2, 400)
    assert clf.score(X_new, y_new) < 0.62


def test_seeds_average_whole_fits_and_round_trip(cancer, tmp_path):
    X, y = cancer
    clf = TabularClassifier(**LINEAR, n_folds=3, n_seeds=2, stack=False).fit(X, y)
    assert [run.seed for run in clf.seeds_] == [0, 1]
    board = clf.leaderboard()
    assert board["seed"].tolist() == [0, 1]
    np.testing.assert_allclose(
        clf.predict_proba(X),
        np.mean([run.predict_proba(X) for run in clf.seeds_], axis=0),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        clf.oof_predictions_,
        np.mean([run.oof_predictions_ for run in clf.seeds_], axis=0),
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match=r"est.seeds_\[i\].predict"):
        clf.predict(X, model=board["model"][0])
    clf.save(tmp_path / "m")
    again = hx.automl.load(tmp_path / "m")
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert again.validation_score_ == clf.validation_score_
    clf.refit_full()
    assert clf.leaderboard()["refit_full"].all()


def test_network_folds_share_compiled_programs(cancer):
    """k folds of one network train on the same compiled programs: 5 folds compile no more
    than 2 (each counted from empty caches)."""
    X, y = cancer
    counts = []
    for n_folds in (2, 5):
        jax.clear_caches()
        with CompilationCounter() as counter:
            TabularClassifier(
                time_limit=60, families=["mlp"], max_trials=1, n_folds=n_folds, stack=False,
                presets="fast",
            ).fit(X, y)  # fmt: skip
        counts.append(counter.count)
    assert counts[1] == counts[0] > 0
    jax.clear_caches()
    with CompilationCounter() as counter:  # the folds in one population: no more programs
        TabularClassifier(
            time_limit=60, families=["mlp"], max_trials=1, n_folds=5, stack=False,
            presets="fast", population_size=2,
        ).fit(X, y)  # fmt: skip
    assert 0 < counter.count <= counts[0] + 3  # the population's slot helpers


def test_network_folds_train_together_as_they_train_one_after_another(cancer):
    """population_size > 1: a bagged network's 5 folds train as one population (one vmap-ed
    program over the same rows, each fold its own rows), with the fold models they get
    alone: 500 rows make folds of one size, so no fold is trimmed."""
    X, y = cancer
    X, y = X.iloc[:500], y.iloc[:500]
    options = dict(time_limit=120, families=["mlp"], max_trials=1, n_folds=5, stack=False,
                   presets="fast", calibrate_threshold=False)  # fmt: skip
    alone = TabularClassifier(**options).fit(X, y)
    together = TabularClassifier(**options, population_size=2).fit(X, y)
    np.testing.assert_allclose(together.oof_predictions_, alone.oof_predictions_, atol=2e-3)
    np.testing.assert_allclose(together.predict_proba(X), alone.predict_proba(X), atol=2e-3)
    assert together.leaderboard()["n_models"].tolist() == [5]


def test_target_encoding_is_cross_fit_on_the_group_folds():
    """A text column naming the group is target encoded: fit on every row with its own folds,
    it would carry each group's label into that group's validation rows."""
    rng = np.random.default_rng(1)
    group = np.repeat(np.arange(80), 5)
    X = pd.DataFrame({"gid": [f"g{g}" for g in group], "noise": rng.normal(size=len(group))})
    y = rng.integers(0, 2, 80)[group]
    clf = TabularClassifier(**LINEAR, n_folds=4, stack=False).fit(X, y, groups=group)
    assert (clf.oof_predictions_.argmax(1) == y).mean() < 0.7  # 1.0 when it leaked
    assert clf.validation_score_ > 0.6  # log loss near chance's 0.69


def test_rare_classes_and_a_second_fit_on_other_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.r_[np.zeros(20), np.ones(20), np.full(18, 2), np.full(2, 3)].astype(int)
    clf = TabularClassifier(
        time_limit=60, families=["linear", "hgb"], max_trials=2, n_folds=3, n_seeds=2
    ).fit(X, y)  # a class of 2 rows: some folds train without it
    assert clf.predict_proba(X).shape == (60, 4)
    clf.set_params(n_seeds=1).fit(X[:, :2], y)  # nothing of the first fit is left
    assert not hasattr(clf, "seeds_") and clf.predict(X[:, :2]).shape == (60,)


def test_groups_and_time_order_do_not_combine():
    X, y = np.arange(40.0).reshape(20, 2), np.arange(20) % 2
    with pytest.raises(ValueError, match="`groups` cannot be combined with time_ordered"):
        TabularClassifier(**LINEAR, time_ordered=True).fit(X, y, groups=np.arange(20) // 2)
