import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from export_models import N_FEATURES, eval_output, tabular

from hyperflax.export import load_model


def test_fresh_process_predicts_without_importing_flax(regressor, regressor_path, tmp_path):
    x = tabular(7, seed=5)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np
        from hyperflax.export import load_model

        predictor = load_model({str(regressor_path)!r})
        y = predictor.predict(np.load({str(tmp_path / "x.npy")!r}))
        loaded = [m for m in ("flax", "mlflow") if m in sys.modules]
        print(json.dumps({{"y": y.tolist(), "loaded": loaded}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["loaded"] == []  # loading needs neither Flax nor MLflow
    np.testing.assert_allclose(np.array(result["y"]), eval_output(regressor, x), atol=1e-5)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (
            np.ones((3, N_FEATURES + 1), np.float32),
            r"expected input of shape \(batch, 5\), got shape \(3, 6\)",
        ),
        (
            np.ones(N_FEATURES, np.float32),
            r"expected input of shape \(batch, 5\), got shape \(5,\)",
        ),
        (np.ones((2, 1, N_FEATURES), np.float32), r"got shape \(2, 1, 5\)"),
        (
            np.full((2, N_FEATURES), "a"),
            r"expected a numeric input \(dtype float32\), got dtype <U1",
        ),
        (np.full((2, N_FEATURES), None), r"got dtype object"),
    ],
)
def test_bad_input_is_a_value_error_naming_expected_and_got(regressor_path, x, message):
    with pytest.raises(ValueError, match=message):
        load_model(regressor_path).predict(x)


def test_integer_and_list_inputs_are_cast_to_the_input_dtype(regressor, regressor_path):
    x = np.arange(2 * N_FEATURES).reshape(2, N_FEATURES)
    expected = eval_output(regressor, x.astype(np.float32))
    predictor = load_model(regressor_path)
    np.testing.assert_allclose(predictor.predict(x), expected, atol=1e-5)
    np.testing.assert_allclose(predictor.predict(x.tolist()), expected, atol=1e-5)


def test_empty_batch_gives_an_empty_result(regressor_path, classifier_path):
    assert load_model(regressor_path).predict(np.zeros((0, N_FEATURES))).shape == (0, 2)
    classifier = load_model(classifier_path)
    assert classifier.predict(np.zeros((0, *classifier.input_spec.shape[1:]))).shape == (0,)


def test_predict_proba_needs_a_classifier(regressor_path):
    with pytest.raises(TypeError, match=r"needs a classifier.*regression"):
        load_model(regressor_path).predict_proba(tabular(2))
