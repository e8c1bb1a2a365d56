"""`hyperflax export PROJECT_DIR PATH`: the best model of a finished search, from its files."""

import numpy as np
import optax
import pytest
from sklearn.datasets import load_digits

import hyperflax as hx
from hyperflax.cli import main


def build(hp, rngs):
    """A builder another process can import as tests.tuners.test_project_export:build."""
    return hx.models.MLP(64, 10, [hp.Int("units", 8, 32)], rngs=rngs)


def _search(tmp_path, builder):
    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype(np.float32)
    hypermodel = hx.HyperModel(
        builder, optimizer=lambda hp: optax.adam(1e-2), loss="cross_entropy",
        metrics=["accuracy"],
    )  # fmt: skip
    tuner = hx.tuners.RandomSearch(
        hypermodel, objective="val_accuracy", max_trials=2, directory=tmp_path,
        project_name="digits", seed=0, tracker=None,
    )  # fmt: skip
    labels = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                       "nine"])[y]  # fmt: skip
    tuner.search(x[:1200], labels[:1200], validation_data=(x[1200:], labels[1200:]), epochs=2,
                 batch_size=64)  # fmt: skip
    return tuner, x


def test_export_writes_the_best_model_from_the_project(tmp_path, capsys):
    tuner, x = _search(tmp_path, build)
    main(["export", str(tmp_path / "digits"), str(tmp_path / "exported")])
    assert "hyperflax serve" in capsys.readouterr().out
    predictor = hx.load_model(tmp_path / "exported")
    model = tuner.get_best_models(1)[0]
    logits = np.asarray(model(x[1200:]))
    np.testing.assert_allclose(predictor.outputs(x[1200:]), logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(
        predictor.predict(x[1200:]), np.asarray(predictor.class_labels)[logits.argmax(1)]
    )
    assert predictor.class_labels[0] == "eight"  # sorted labels, as the search encoded them
    best = tuner.get_best_trials(1)[0]
    assert predictor.metadata["trial"] == best.number
    assert predictor.metadata["builder"] == "tests.tuners.test_project_export:build"


def test_a_builder_without_an_importable_name_must_be_given(tmp_path):
    def local_build(hp, rngs):  # defined inside a function: no module:name reaches it
        return build(hp, rngs)

    _search(tmp_path, local_build)
    with pytest.raises(SystemExit, match="pass --build module:name"):
        main(["export", str(tmp_path / "digits"), str(tmp_path / "exported")])
    main([
        "export", str(tmp_path / "digits"), str(tmp_path / "exported"), "--build",
        "tests.tuners.test_project_export:build", "--trial", "0",
    ])  # fmt: skip
    assert hx.load_model(tmp_path / "exported").metadata["trial"] == 0
    with pytest.raises(SystemExit, match="no study"):
        main(["export", str(tmp_path / "nothing"), str(tmp_path / "other")])
