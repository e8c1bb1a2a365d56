import numpy as np
import pytest

from hyperflax.automl._ensemble import greedy_ensemble
from hyperflax.automl._metrics import CLASSIFICATION, REGRESSION


def test_complementary_models_are_averaged():
    y = np.array([0.0, 2.0])
    weights = greedy_ensemble([np.array([1.0, 1.0]), np.array([-1.0, 3.0])], y, REGRESSION["rmse"])
    assert weights.tolist() == [0.5, 0.5]


def test_a_perfect_model_takes_all_weight():
    y = np.array([0, 1, 1, 0])
    perfect = np.eye(2)[y] * 0.98 + 0.01
    noisy = np.full((4, 2), 0.5)
    weights = greedy_ensemble([noisy, perfect], y, CLASSIFICATION["log_loss"])
    assert weights.tolist() == [0.0, 1.0]


def test_weights_are_counts_over_the_best_prefix():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    preds = [y + rng.normal(scale=s, size=50) for s in (0.5, 0.6, 0.7)]
    weights = greedy_ensemble(preds, y, REGRESSION["rmse"], n_iterations=20)
    assert weights.sum() == pytest.approx(1.0)
    assert any(np.allclose(weights * n, np.round(weights * n)) for n in range(1, 21))  # counts
    ensemble = sum(w * p for w, p in zip(weights, preds, strict=True))
    assert REGRESSION["rmse"](y, ensemble) <= REGRESSION["rmse"](y, preds[0])


def test_empty_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        greedy_ensemble([], np.array([1.0]), REGRESSION["rmse"])
