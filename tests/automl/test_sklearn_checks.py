from sklearn.utils.estimator_checks import parametrize_with_checks

from hyperflax.automl import TabularClassifier, TabularRegressor

TINY = dict(time_limit=60, families=["linear"], max_trials=1)

# Checks expected to fail, with the reason.
EXPECTED_FAILED = {}


@parametrize_with_checks(
    [TabularClassifier(**TINY), TabularRegressor(**TINY), TabularClassifier(**TINY, n_folds=3)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
