import importlib
import json

import numpy as np
import pytest
from export_models import N_FEATURES, tabular

from hyperflax.export import export_model, load_model

PYFUNC = importlib.import_module("mlflow.pyfunc")  # the module itself, not mlflow's lazy proxy


def test_failure_during_export_leaves_no_target_and_no_litter(regressor, tmp_path):
    wrong_width = np.ones((2, N_FEATURES + 1), np.float32)
    with pytest.raises(ValueError, match=r"cannot export the model"):
        export_model(regressor, tmp_path / "m", example_input=wrong_width)
    assert list(tmp_path.iterdir()) == []


def test_failure_while_writing_mlflow_files_leaves_no_target(regressor, tmp_path, monkeypatch):
    def broken_save_model(**kwargs):
        (kwargs["path"] / "MLmodel").parent.mkdir(parents=True)
        (kwargs["path"] / "MLmodel").write_text("half written")
        raise OSError("disk full")

    monkeypatch.setattr(PYFUNC, "save_model", broken_save_model)
    with pytest.raises(OSError, match=r"disk full"):
        export_model(regressor, tmp_path / "m", example_input=tabular(2))
    assert list(tmp_path.iterdir()) == []


def test_existing_target_is_an_error_without_overwrite(regressor, tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(FileExistsError, match=r"overwrite=True"):
        export_model(regressor, tmp_path / "m", example_input=tabular(2))
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_overwrite_replaces_an_existing_artifact(regressor, tmp_path):
    path = export_model(regressor, tmp_path / "m", example_input=tabular(2), metadata={"v": 1})
    export_model(regressor, path, example_input=tabular(2), metadata={"v": 2}, overwrite=True)
    assert load_model(path).metadata == {"v": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_failed_overwrite_keeps_the_old_artifact(regressor, tmp_path, monkeypatch):
    path = export_model(regressor, tmp_path / "m", example_input=tabular(2), metadata={"v": 1})
    monkeypatch.setattr(PYFUNC, "save_model", lambda **kwargs: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        export_model(regressor, path, example_input=tabular(2), overwrite=True)
    assert load_model(path).metadata == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_overwrite_refuses_a_directory_that_is_not_an_artifact(regressor, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match=r"not a hyperflax artifact"):
        export_model(regressor, tmp_path / "m", example_input=tabular(2), overwrite=True)
    assert (tmp_path / "m" / "thesis.tex").read_text() == "precious"


def test_missing_parent_directories_are_created(regressor, tmp_path):
    path = export_model(regressor, tmp_path / "a" / "b", example_input=tabular(2))
    assert json.loads((path / "hyperflax.json").read_text())["task"] == "regression"
