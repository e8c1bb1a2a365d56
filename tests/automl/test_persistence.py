import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hyperflax
from hyperflax.automl import TabularClassifier, load
from hyperflax.errors import ArtifactError


def test_save_load_same_predictions_in_new_process(tmp_path, mixed):
    X, y = mixed
    clf = TabularClassifier(
        time_limit=60, families=["hgb", "linear", "mlp"], max_trials=3, presets="fast"
    ).fit(X, y)
    clf.save(tmp_path / "model")
    X.to_pickle(tmp_path / "X.pkl")  # test data only; the model itself is never pickled
    np.save(tmp_path / "expected.npy", clf.predict_proba(X))
    code = (
        "import numpy as np, pandas as pd, hyperflax as hx; "
        f"m = hx.automl.load({str(tmp_path / 'model')!r}); "
        f"p = m.predict_proba(pd.read_pickle({str(tmp_path / 'X.pkl')!r})); "
        f"np.testing.assert_allclose(p, np.load({str(tmp_path / 'expected.npy')!r}), atol=1e-6); "
        "print(m.classes_.tolist())"
    )
    src = str(Path(hyperflax.__file__).parents[1])  # this checkout, not an installed copy
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "['no', 'yes']"
    assert not list((tmp_path / "model").rglob("*.pkl"))


def test_load_refuses_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ArtifactError, match=r"automl\.json"):
        load(tmp_path)
