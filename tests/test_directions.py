"""One direction per metric name, whether it is a tuner's objective or a callback's monitor."""

import pytest

import hyperflax as hx
from hyperflax.trainers import BestCheckpoint, EarlyStopping

MINIMIZED = [
    "val_loss",
    "loss",
    "val_error",
    "mse",
    "val_mae",
    "val_rmse",
    "val_mape",
    "val_logloss",
]
MAXIMIZED = [
    "val_accuracy",
    "val_acc",
    "auc",
    "val_r2",
    "f1",
    "val_precision",
    "val_recall",
    "val_f1_score",
    "val_top1accuracy",
]


@pytest.mark.parametrize(
    ("name", "mode"), [(n, "min") for n in MINIMIZED] + [(n, "max") for n in MAXIMIZED]
)
def test_objective_and_early_stopping_agree(name, mode):
    assert EarlyStopping(name).mode == mode
    assert BestCheckpoint(name).mode == mode
    assert hx.tuners.as_objective(name).direction == f"{mode}imize"


@pytest.mark.parametrize("name", ["val_speed", "throughput", "val_losses"])
def test_a_name_without_a_direction_is_refused_by_both(name):
    with pytest.raises(ValueError, match=rf"cannot infer `mode` for monitor '{name}'"):
        EarlyStopping(name)
    with pytest.raises(ValueError, match=rf"'{name}' has no known direction.*hx.Objective"):
        hx.tuners.as_objective(name)
