import numpy as np
import pytest
from export_models import N_FEATURES, eval_output, tabular
from sklearn.decomposition import PCA
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from hyperflax.export import export_model, load_model

RAW = tabular(64) * 10 + 3


@pytest.mark.parametrize(
    "scaler",
    [
        StandardScaler(),
        StandardScaler(with_mean=False),
        MinMaxScaler(feature_range=(-1, 1)),
        MinMaxScaler(clip=True),
    ],
    ids=["standard", "standard-no-mean", "minmax", "minmax-clip"],
)
def test_fitted_scaler_is_applied_before_the_model(regressor, tmp_path, scaler):
    scaler.fit(RAW)
    x = tabular(9, seed=1) * 12 + 3  # partly outside the fitted range, so clipping matters
    path = export_model(regressor, tmp_path / "m", example_input=RAW[:4], preprocessing=scaler)
    expected = eval_output(regressor, scaler.transform(x).astype(np.float32))
    np.testing.assert_allclose(load_model(path).predict(x), expected, atol=1e-5)


def test_unsupported_transformer_is_a_type_error_naming_the_supported_ones(regressor, tmp_path):
    with pytest.raises(TypeError, match=r"StandardScaler.*MinMaxScaler.*got .*PCA"):
        export_model(regressor, tmp_path / "m", example_input=RAW, preprocessing=PCA().fit(RAW))
    assert list(tmp_path.iterdir()) == []


def test_unfitted_scaler_is_rejected(regressor, tmp_path):
    with pytest.raises(ValueError, match=r"not fitted"):
        export_model(regressor, tmp_path / "m", example_input=RAW, preprocessing=StandardScaler())


def test_scaler_fitted_on_other_features_is_rejected(regressor, tmp_path):
    scaler = StandardScaler().fit(RAW[:, : N_FEATURES - 1])
    with pytest.raises(ValueError, match=f"expects inputs of shape \\(batch, {N_FEATURES - 1}\\)"):
        export_model(regressor, tmp_path / "m", example_input=RAW, preprocessing=scaler)
