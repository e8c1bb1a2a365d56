import numpy as np
import pytest

from hyperflax.trainers import METRICS


def test_classification_metrics():
    logits = np.array([[3.0, 1, 2, 0, 0, 0], [0, 3, 2, 1, 0, 0], [5, 4, 3, 2, 1, 0]])
    labels = np.array([0, 2, 5])
    assert METRICS["accuracy"](logits, labels) == pytest.approx(1 / 3)
    assert METRICS["top_k_accuracy"](logits, labels) == pytest.approx(2 / 3)


def test_auc_is_exact_with_ties_and_two_logit_columns():
    scores = np.array([0.1, 0.4, 0.4, 0.8])
    labels = np.array([0, 0, 1, 1])
    assert METRICS["auc"](scores, labels) == pytest.approx(0.875)
    two_logits = np.stack([np.zeros(4), scores], axis=1)
    assert METRICS["auc"](two_logits, labels) == pytest.approx(0.875)
    with pytest.raises(ValueError, match="binary"):
        METRICS["auc"](np.zeros((4, 3)), labels)


def test_regression_metrics():
    predictions = np.array([[1.0], [2.0], [4.0]])
    targets = np.array([1.0, 3.0, 3.0])
    assert METRICS["mse"](predictions, targets) == pytest.approx(2 / 3)
    assert METRICS["mae"](predictions, targets) == pytest.approx(2 / 3)
    assert METRICS["r2"](predictions, targets) == pytest.approx(1 - 2 / (4 / 3 * 2))
