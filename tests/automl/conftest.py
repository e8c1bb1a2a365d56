import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer


@pytest.fixture(scope="session")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="session")
def mixed():
    """A table with every kind of column, missing values and string labels."""
    rng = np.random.default_rng(0)
    n = 300
    num = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "num": num,
            "int": pd.array(rng.integers(0, 5, n), dtype="Int64"),
            "few": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "many": [f"id{i}" for i in rng.integers(0, 40, n)],
            "text": pd.array(rng.choice(["x", "y"], n), dtype="string"),
            "flag": rng.random(n) > 0.5,
        }
    )
    frame.loc[::7, "num"] = np.nan
    frame.loc[::5, "many"] = None
    frame.loc[::9, "int"] = pd.NA
    signal = np.nan_to_num(num) + (frame["few"] == "a") * 1.5 + frame["flag"] * 1.0
    y = np.where(signal > 0.8, "yes", "no")
    return frame, y
