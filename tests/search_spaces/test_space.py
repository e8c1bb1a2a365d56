import pytest

import hyperflax as hx

SPEC = """
lr: {type: float, low: 1e-4, high: 1e-2, log: true}
units: {type: int, low: 32, high: 256, step: 32, default: 64}
activation: [relu, gelu]
batch_norm: {type: boolean, default: true}
optimizer: adamw
dropout: {type: choice, values: [0.0, 0.25, 0.5]}
"""


def test_from_yaml_with_every_type(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(SPEC)
    space = hx.SearchSpace.from_yaml(path)
    values = space.sample(hx.HyperParameters())
    assert values == {
        "lr": pytest.approx(1e-4),
        "units": 64,
        "activation": "relu",
        "batch_norm": True,
        "optimizer": "adamw",
        "dropout": 0.0,
    }


def test_a_space_drives_a_search(tmp_path):
    space = hx.SearchSpace({"x": {"type": "float", "low": -1.0, "high": 1.0}, "k": [1, 2]})
    tuner = hx.tuners.RandomSearch(
        lambda hp: space.sample(hp)["x"] ** 2 + space.sample(hp)["k"],
        objective=hx.Objective("value", "min"),
        max_trials=5,
        seed=1,
        directory=tmp_path,
    )
    tuner.search()
    assert set(tuner.get_best_hyperparameters()[0].values) == {"x", "k"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "non-empty mapping"),
        ({"x": {"type": "normal"}}, r"'x': 'type' must be one of"),
        ({"x": {"type": "int", "low": 1}}, r"'x' of type 'int' needs \['high'\]"),
        ({"x": {"type": "int", "low": 1, "high": 2, "scale": 3}}, r"does not take \['scale'\]"),
        ({"x": {"type": "int", "low": 5, "high": 1}}, r"'x': low must be <= high"),
        (
            {"x": {"type": "float", "low": 0, "high": 1, "log": True}},
            r"'x': log=True needs low > 0",
        ),
        ({"x": {"type": "choice", "values": []}}, r"'x': values must be a non-empty"),
    ],
)
def test_space_errors(spec, message):
    with pytest.raises(hx.SearchSpaceError, match=message):
        hx.SearchSpace(spec)
