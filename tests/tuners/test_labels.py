"""Labels users have: accepted where unambiguous, kept in exports so predict returns them."""

from pathlib import Path

import numpy as np
import optax
import pytest

import hyperflax as hx

RNG = np.random.default_rng(0)
X = RNG.normal(size=(120, 4)).astype(np.float32)
IDS = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)  # 3 learnable classes


def mlp(hp, rngs):
    return hx.models.MLP(4, 3, [16], rngs=rngs)


def adam(hp):
    return optax.inject_hyperparams(optax.adam)(learning_rate=hp.Float("lr", 1e-2, 3e-2))


@pytest.mark.parametrize(
    "labels",
    [
        IDS[:, None],  # an (n, 1) column
        np.eye(3)[IDS],  # one-hot
        IDS.astype(np.float64),  # 0.0, 1.0, 2.0
    ],
    ids=["column", "one-hot", "whole-floats"],
)
def test_class_id_forms_train_as_class_ids(labels, tmp_path):
    tuner = hx.tuners.RandomSearch(
        hx.HyperModel(mlp, optimizer=adam, metrics=["accuracy"]), objective="val_accuracy",
        max_trials=1, seed=0, directory=tmp_path, tracker=None, verbose=0,
    )  # fmt: skip
    tuner.search(X, labels, validation_split=0.25, epochs=3, batch_size=30)
    assert tuner.trials_dataframe().state.tolist() == ["COMPLETE"]


def test_text_labels_are_kept_so_the_export_predicts_them(tmp_path):
    names = np.array(["cat", "dog", "owl"])[IDS]
    tuner = hx.tuners.RandomSearch(
        hx.HyperModel(mlp, optimizer=adam, metrics=["accuracy"]), objective="val_accuracy",
        max_trials=1, seed=0, directory=tmp_path, tracker=None, verbose=0,
    )  # fmt: skip
    tuner.search(X[:90], names[:90], validation_data=(X[90:], names[90:]), epochs=20,
                 batch_size=30)  # fmt: skip
    path = tuner.export_best(tmp_path / "exported")
    predictor = hx.load_model(path)
    assert predictor.class_labels == ["cat", "dog", "owl"]
    assert set(predictor.predict(X[90:])) <= {"cat", "dog", "owl"}


def test_boolean_labels_are_kept(tmp_path):
    def binary(hp, rngs):
        return hx.models.MLP(4, 2, [8], rngs=rngs)

    tuner = hx.tuners.RandomSearch(
        hx.HyperModel(binary, optimizer=adam), objective="val_loss", max_trials=1, seed=0,
        directory=tmp_path, tracker=None, verbose=0,
    )  # fmt: skip
    tuner.search(X, X[:, 0] > 0, validation_split=0.25, epochs=2, batch_size=30)
    predictor = hx.load_model(tuner.export_best(tmp_path / "exported"))
    assert predictor.class_labels == [False, True]


def test_a_validation_label_never_seen_in_training_is_refused(tmp_path):
    tuner = hx.tuners.RandomSearch(
        hx.HyperModel(mlp, optimizer=adam), objective="val_loss", max_trials=1,
        directory=tmp_path, tracker=None,
    )  # fmt: skip
    with pytest.raises(hx.errors.DataError, match=r"validation labels \['emu'\] never occur"):
        tuner.search(
            X[:4], np.array(["cat", "dog", "owl", "cat"]),
            validation_data=(X[4:6], np.array(["cat", "emu"])), epochs=1, batch_size=2,
        )  # fmt: skip
    assert tuner.study.trials == []


def test_text_labels_reach_an_export_made_in_a_new_process(tmp_path):
    import subprocess
    import sys
    import textwrap

    names = np.array(["cat", "dog", "owl"])[IDS]
    tuner = hx.tuners.RandomSearch(
        hx.HyperModel(mlp, optimizer=adam), objective="val_loss", max_trials=1, seed=0,
        directory=tmp_path, project_name="labels", tracker=None, verbose=0,
    )  # fmt: skip
    tuner.search(X, names, validation_split=0.25, epochs=2, batch_size=30)
    script = textwrap.dedent(
        f"""
        import numpy as np, optax, hyperflax as hx
        from tests.tuners.test_labels import adam, mlp
        tuner = hx.tuners.RandomSearch(
            hx.HyperModel(mlp, optimizer=adam), objective="val_loss",
            directory={str(tmp_path)!r}, project_name="labels", tracker=None)
        path = tuner.export_best({str(tmp_path / "exported")!r},
                                 example_input=np.zeros((1, 4), np.float32))
        print(hx.load_model(path).class_labels)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "['cat', 'dog', 'owl']" in run.stdout
