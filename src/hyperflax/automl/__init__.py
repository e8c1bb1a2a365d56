"""AutoML for tables and images: scikit-learn estimators that search models and ensemble them.

Every candidate model is a trial of one Optuna study run by a hyperflax tuner (tracked in
MLflow with ``tracker="mlflow"``, resumable with a ``directory``); the best are combined by
greedy ensemble selection on held-out predictions, within one ``time_limit``.

Example:
    >>> import hyperflax as hx
    >>> clf = hx.automl.TabularClassifier(time_limit=60, presets="fast", seed=0)
"""

from hyperflax.automl._estimators import TabularClassifier as TabularClassifier
from hyperflax.automl._estimators import TabularRegressor as TabularRegressor
from hyperflax.automl._images import ImageClassifier as ImageClassifier
from hyperflax.automl._images import ImageRegressor as ImageRegressor
from hyperflax.automl._persistence import load as load

__all__ = ["ImageClassifier", "ImageRegressor", "TabularClassifier", "TabularRegressor", "load"]
