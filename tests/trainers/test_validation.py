import numpy as np
import pytest

from hyperflax.trainers import CompilationCounter


def _cases(x, y):
    nan_x = x.copy()
    nan_x[3, 5] = np.nan
    inf_y = y.astype(np.float32)
    inf_y[0] = np.inf
    return {
        "length mismatch": (dict(x=x, y=y[:-1]), r"`x` and `y`.*300 and 299"),
        "feature shape": (dict(x=x[:, :60], y=y), r"`x` has per-sample feature shape \(60,\)"),
        "label range": (dict(x=x, y=y + 5), r"`y` labels must be in \[0, 10\).*\[5, 14\]"),
        "nan in x": (dict(x=nan_x, y=y), r"`x` must be finite.*\(3, 5\)"),
        "inf in y": (dict(x=x, y=inf_y), r"`y` must be finite"),
        "empty": (dict(x=x[:0], y=y[:0]), r"`x` must not be empty"),
        "batch size zero": (
            dict(x=x, y=y, batch_size=0),
            r"`batch_size` must be a positive int, got 0",
        ),
        "batch size too big": (
            dict(x=x, y=y, batch_size=301),
            r"`batch_size` must be <= .* 300, got 301",
        ),
        "split range": (
            dict(x=x, y=y, validation_split=1.5),
            r"`validation_split` must be in \(0, 1\), got 1.5",
        ),
        "both validations": (
            dict(x=x, y=y, validation_split=0.2, validation_data=(x, y)),
            r"`validation_data` or `validation_split`, not both",
        ),
        "validation length": (
            dict(x=x, y=y, validation_data=(x[:10], y[:9])),
            r"`validation_x` and `validation_y`.*10 and 9",
        ),
    }


CASES = list(_cases(np.zeros((300, 64), np.float32), np.zeros(300, np.int32)))


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_rejected_before_compiling(digits, make_trainer, case):
    x, y = digits
    kwargs, message = _cases(x, y)[case]
    kwargs = {"epochs": 1, "batch_size": 32, **kwargs}
    trainer = make_trainer()
    with CompilationCounter() as counter, pytest.raises(ValueError, match=message):
        trainer.fit(kwargs.pop("x"), kwargs.pop("y"), **kwargs)
    assert counter.count == 0


def test_unknown_loss_and_metric_names_list_the_valid_ones(make_trainer):
    import optax
    from flax import nnx

    from hyperflax.models import MLP
    from hyperflax.trainers import Trainer

    model = MLP(4, 2, [4], rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"`loss`.*'cross_entropy'.*got 'hinge'"):
        Trainer(model, optax.sgd(0.1), "hinge")
    with pytest.raises(ValueError, match=r"`metrics`.*'accuracy'.*got 'f2'"):
        Trainer(model, optax.sgd(0.1), "mse", ["f2"])
