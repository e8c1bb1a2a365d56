import numpy as np
import pandas as pd

from hyperflax.automl._preprocessing import make_preprocessor
from hyperflax.automl._tables import infer_columns, normalize


def test_every_kind_handles_unseen_categories_and_missing_columns(mixed):
    X, y = mixed
    columns = infer_columns(X)
    assert columns.categorical == ("few", "many", "text")
    assert set(columns.numeric) == {"num", "int", "flag"}
    train = normalize(X, columns)
    test = X.head(5).copy()
    test["few"] = pd.Categorical(["new"] * 5)
    test["num"] = np.nan
    test["many"] = None
    for kind in ("tree", "robust", "quantile"):
        pre = make_preprocessor(kind, columns, train, target_type="binary", seed=0)
        out = pre.fit(train, (y == "yes").astype(int)).transform(normalize(test, columns))
        assert out.shape[0] == 5
        if kind != "tree":
            assert np.isfinite(out).all()


def test_numpy_object_columns_of_numbers_are_numeric():
    X = np.array([[1, "a"], [2.5, "b"], [None, "a"]], dtype=object)
    frame = pd.DataFrame(X, columns=["x0", "x1"])
    assert infer_columns(frame).numeric == ("x0",)
