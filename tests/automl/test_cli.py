import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import hyperflax as hx
from hyperflax.automl._cli import infer_task
from hyperflax.cli import main


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"] * 20, "classification"),
        ([True, False] * 30, "classification"),
        ([0, 1, 2] * 20, "classification"),
        (list(np.linspace(0.0, 1.0, 60)), "regression"),
        (list(range(60)), "regression"),
    ],
)
def test_the_task_is_inferred_from_the_target(values, task):
    assert infer_task(pd.Series(values)) == task


def test_automl_command_fits_prints_saves_and_writes_predictions(tmp_path, capsys):
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    table = x.iloc[:, :6].assign(
        id=np.arange(len(x)) + 1000, diagnosis=np.where(y == 1, "benign", "malignant")
    )
    table.iloc[:400].to_csv(tmp_path / "train.csv", index=False)
    table.iloc[400:].drop(columns="diagnosis").to_csv(tmp_path / "test.csv", index=False)
    main([
        "automl", str(tmp_path / "train.csv"), "--target", "diagnosis",
        "--test", str(tmp_path / "test.csv"), "--output", str(tmp_path / "pred.csv"),
        "--id-column", "id", "--time-limit", "20", "--presets", "fast",
        "--model-dir", str(tmp_path / "model"),
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert "classification, log_loss on the held-out split" in out
    assert "ensemble validation log_loss" in out
    predictions = pd.read_csv(tmp_path / "pred.csv")
    assert predictions.columns.tolist() == ["id", "diagnosis"]
    assert predictions.id.tolist() == table.id.iloc[400:].tolist()
    assert set(predictions.diagnosis) <= {"benign", "malignant"}
    truth = table.diagnosis.iloc[400:].to_numpy()
    # 6 of the 30 features, 20 s: 0.846 in two runs on a busy machine; this checks the command
    assert (predictions.diagnosis.to_numpy() == truth).mean() >= 0.75
    model = hx.automl.load(tmp_path / "model")
    test = pd.read_csv(tmp_path / "test.csv").drop(columns="id")
    assert (model.predict(test) == predictions.diagnosis.to_numpy()).all()


def test_automl_command_names_a_missing_target(tmp_path):
    pd.DataFrame({"a": [1, 2], "b": [3, 4]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(
        SystemExit, match=r"--target 'y' is not a column of .*columns: \['a', 'b'\]"
    ):
        main(["automl", str(tmp_path / "t.csv"), "--target", "y"])


def _submission(tmp_path, *extra):
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    table = x.iloc[:, :5].assign(id=np.arange(len(x)) + 1, label=np.where(y == 1, "b", "m"))
    table.iloc[:450].to_csv(tmp_path / "train.csv", index=False)
    table.iloc[450:].drop(columns="label").to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / f"sub{len(list(tmp_path.glob('sub*')))}.csv"
    main([
        "automl", str(tmp_path / "train.csv"), "--target", "label", "--test",
        str(tmp_path / "test.csv"), "--id-column", "id", "--output", str(out),
        "--presets", "best", "--max-trials", "2", "--time-limit", "60",
        "--model-dir", str(tmp_path / "model"), *extra,
    ])  # fmt: skip
    return out, table


def test_submission_with_probabilities_is_byte_identical_for_a_seed(tmp_path, capsys):
    first, table = _submission(tmp_path, "--proba")
    out = capsys.readouterr().out
    assert "log_loss on out-of-fold predictions of 5 fold models" in out
    assert "fold_score_mean" in out
    submission = pd.read_csv(first)
    assert submission.columns.tolist() == ["id", "label"]
    assert submission.id.tolist() == list(range(451, len(table) + 1))
    assert submission.label.between(0.0, 1.0).all()  # the probability of class "m"
    second, _ = _submission(tmp_path, "--proba")
    assert first.read_bytes() == second.read_bytes()


def test_a_multiclass_submission_has_one_probability_column_per_class(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    table = pd.DataFrame(x, columns=["a", "b", "c"]).assign(
        key=[f"r{i}" for i in range(200)], kind=np.array(["x", "y", "z"])[x.argmax(1)]
    )
    table.iloc[:150].to_csv(tmp_path / "train.csv", index=False)
    table.iloc[150:].drop(columns="kind").to_csv(tmp_path / "test.csv", index=False)
    main([
        "automl", str(tmp_path / "train.csv"), "--target", "kind", "--test",
        str(tmp_path / "test.csv"), "--id-column", "key", "--output", str(tmp_path / "s.csv"),
        "--n-folds", "3", "--max-trials", "1", "--proba", "--model-dir", str(tmp_path / "m"),
    ])  # fmt: skip
    submission = pd.read_csv(tmp_path / "s.csv")
    assert submission.columns.tolist() == ["key", "x", "y", "z"]
    np.testing.assert_allclose(submission[["x", "y", "z"]].sum(axis=1), 1.0, atol=1e-6)
