import optuna
import pytest

import hyperflax as hx


def test_defaults_outside_a_search():
    hp = hx.HyperParameters()
    assert hp.Int("units", 32, 256, log=True) == 32
    assert hp.Int("layers", 1, 3, default=2) == 2
    assert hp.Float("lr", 1e-4, 1e-2, log=True) == pytest.approx(1e-4)
    assert hp.Float("dropout", 0.0, 0.5, default=0.25) == 0.25
    assert hp.Choice("act", ["relu", "gelu"]) == "relu"
    assert hp.Choice("act2", ["relu", "gelu"], default="gelu") == "gelu"
    assert hp.Boolean("bn") is False
    assert hp.Boolean("ln", default=True) is True
    assert hp.Fixed("opt", "adamw") == "adamw"
    assert list(hp.values) == ["units", "layers", "lr", "dropout", "act", "act2", "bn", "ln", "opt"]


def test_fixed_values_and_values_property():
    hp = hx.HyperParameters({"units": 64})
    assert hp.values == {"units": 64}
    assert hp.Int("units", 32, 256) == 64
    assert hp["units"] == 64 and "units" in hp and "lr" not in hp


def test_fixed_value_outside_the_range_is_an_error():
    hp = hx.HyperParameters({"units": 1000})
    with pytest.raises(hx.SearchSpaceError, match=r"'units'.*\[32, 256\].*1000"):
        hp.Int("units", 32, 256)


def test_asking_twice_returns_the_same_value_inside_a_search():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    hp = hx.HyperParameters._for_trial(trial)
    first = hp.Float("lr", 1e-4, 1e-1, log=True)
    assert hp.Float("lr", 1e-4, 1e-1, log=True) == first
    assert trial.params == {"lr": first}


def test_conditional_space_is_plain_python():
    def build(hp):
        if hp.Choice("model", ["linear", "mlp"]) == "mlp":
            return [hp.Int(f"units_{i}", 8, 64) for i in range(hp.Int("layers", 1, 3))]
        return []

    hp = hx.HyperParameters({"model": "mlp", "layers": 2})
    assert build(hp) == [8, 8]
    assert set(hp.values) == {"model", "layers", "units_0", "units_1"}


@pytest.mark.parametrize(
    ("define", "message"),
    [
        (lambda hp: hp.Int("n", 5, 1), r"'n': low must be <= high \(1\), got 5"),
        (lambda hp: hp.Float("lr", 0.1, 0.01), r"'lr': low must be <= high"),
        (lambda hp: hp.Float("lr", 0.0, 1.0, log=True), r"'lr': log=True needs low > 0, got 0.0"),
        (lambda hp: hp.Int("n", 0, 10, log=True), r"'n': log=True needs low > 0, got 0"),
        (lambda hp: hp.Choice("act", []), r"'act': values must be a non-empty sequence"),
        (lambda hp: hp.Choice("act", "relu"), r"'act': values must be a list or tuple"),
        (lambda hp: hp.Int("n", 0, 10, step=3), r"'n': step must divide high - low = 10.*got 3"),
        (lambda hp: hp.Float("x", 0.0, 1.0, step=0.3), r"'x': step must divide high - low"),
        (lambda hp: hp.Int("n", 0, 10, step=0), r"'n': step must be >= 1, got 0"),
        (lambda hp: hp.Float("x", 1e-3, 1.0, step=0.1, log=True), r"'x': log=True cannot"),
        (lambda hp: hp.Int("n", 1.5, 3), r"'n': low must be an int, got 1.5"),
        (lambda hp: hp.Float("x", 0.0, float("inf")), r"'x': high must be a finite number"),
        (lambda hp: hp.Int("n", 0, 10, default=11), r"'n': default must be an int in \[0, 10\]"),
        (lambda hp: hp.Choice("act", ["relu"], default="tanh"), r"'act': default must be one of"),
        (lambda hp: hp.Choice("opt", [object()]), r"'opt': choice values must be None, bool"),
        (lambda hp: hp.Fixed("f", [1, 2]), r"'f': choice values must be None, bool"),
        (lambda hp: hp.Choice("act", ["a", "a"]), r"'act': values must be distinct"),
        (lambda hp: hp.Int("", 0, 1), r"name must be a non-empty str"),
    ],
)
def test_definition_errors_name_the_parameter_rule_and_value(define, message):
    with pytest.raises(hx.SearchSpaceError, match=message):
        define(hx.HyperParameters())


@pytest.mark.parametrize(
    "redefine",
    [
        lambda hp: hp.Int("units", 32, 512),
        lambda hp: hp.Float("units", 32.0, 256.0),
        lambda hp: hp.Choice("units", [32, 64]),
        lambda hp: hp.Int("units", 32, 256, log=True),
    ],
)
def test_redefining_a_name_differently_is_an_error(redefine):
    hp = hx.HyperParameters()
    hp.Int("units", 32, 256)
    with pytest.raises(hx.SearchSpaceError, match=r"'units' is already defined as Int"):
        redefine(hp)


def test_report_outside_a_search_does_nothing():
    hx.HyperParameters().report({"val_loss": 1.0}, step=0)
