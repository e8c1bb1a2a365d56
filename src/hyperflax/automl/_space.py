"""The search: one conditional space over all families, presets, and the zero-shot portfolio."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hyperflax.automl._task import Task
from hyperflax.search_spaces import HyperParameters

FAMILIES = ("hgb", "kernel", "realmlp", "tabm", "linear", "knn", "mlp")
NETWORKS = ("mlp", "realmlp", "tabm")
PREPROCESSOR = {
    "hgb": "tree",
    "linear": "quantile",
    "knn": "quantile",
    "kernel": "robust",  # min-max scaled again inside the model
    "mlp": "quantile",
    "realmlp": "robust",
    "tabm": "quantile",
}


@dataclass(frozen=True)
class Preset:
    """How much effort: default families, network training length, folds per candidate.

    ``n_folds=0`` trains each candidate once, on 80% of the rows (a held-out split); with
    ``bag_rows_per_s``, tables of more rows than that many per second of ``time_limit`` are not
    bagged either (bagging costs ``n_folds`` fits per candidate).

    Example:
        >>> PRESETS["fast"].families
        ('hgb', 'linear', 'mlp')
    """

    families: tuple[str, ...]
    max_epochs: int
    patience: int
    n_folds: int = 0
    bag_rows_per_s: float | None = None


PRESETS = {
    "fast": Preset(("hgb", "linear", "mlp"), max_epochs=64, patience=8),
    # Measured at 60 s on 2 cores (bench/automl_vs_peers.py): 5-fold bagging helped every
    # table of up to 1,500 training rows and some larger ones, but starved the search on a
    # regression of 2,250 rows (8 candidates instead of 49, test RMSE 20% worse), and cost 1%
    # on one of 3,100: bag up to 30 rows per second of the limit.
    "medium": Preset(FAMILIES, max_epochs=256, patience=16, n_folds=5, bag_rows_per_s=30.0),
    "best": Preset(FAMILIES, max_epochs=256, patience=16, n_folds=5),
}

_NET_DEFAULTS = {"width": 256, "depth": 3, "dropout": 0.1, "learning_rate": 2e-3}

# Strong starting points, best expected value first: HGB ~ LightGBM defaults, an RBF kernel
# model (cheap: seconds on thousands of rows), RealMLP-TD's published defaults scaled to a CPU
# budget (width 256), cheap fallbacks, then TabM's (k=8): on 2 cores its first candidate took
# 17-23 s of a 60 s fit and rarely got ensemble weight, so it comes after the cheap ones.
PORTFOLIO: tuple[tuple[str, dict[str, Any]], ...] = (
    ("hgb", {"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20,
             "l2_regularization": 1e-4, "max_features": 1.0}),
    ("kernel", {"C": 100.0, "alpha": 0.01, "gamma": 1.0}),
    ("realmlp", {**_NET_DEFAULTS, "dropout": 0.15, "weight_decay": 1e-5,
                 "frequency_scale": 0.1}),
    ("linear", {"C": 1.0, "alpha": 1.0}),
    ("knn", {"n_neighbors": 10, "weights": "distance"}),
    ("hgb", {"learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 10,
             "l2_regularization": 1.0, "max_features": 0.8}),
    ("tabm", {**_NET_DEFAULTS, "weight_decay": 3e-4}),
    ("mlp", {**_NET_DEFAULTS, "depth": 2, "learning_rate": 1e-3, "weight_decay": 1e-5}),
    ("hgb", {"learning_rate": 0.03, "max_leaf_nodes": 63, "min_samples_leaf": 40,
             "l2_regularization": 0.1, "max_features": 0.6}),
)  # fmt: skip


def sample(hp: HyperParameters, families: tuple[str, ...], task: Task) -> tuple[str, dict]:
    """One candidate from the conditional space: its family and that family's parameters.

    Example:
        >>> sample(HyperParameters(), ("linear",), Task("binary", 2))
        ('linear', {'C': 1.0})
    """
    family = hp.Choice("family", list(families))

    def real(name: str, low: float, high: float, default: float, log: bool = True) -> float:
        return float(hp.Float(f"{family}_{name}", low, high, log=log, default=default))

    def integer(name: str, low: int, high: int, default: int, log: bool = True) -> int:
        return int(hp.Int(f"{family}_{name}", low, high, log=log, default=default))

    if family == "hgb":
        return family, {
            "learning_rate": real("learning_rate", 0.01, 0.3, 0.1),
            "max_leaf_nodes": integer("max_leaf_nodes", 4, 128, 31),
            "min_samples_leaf": integer("min_samples_leaf", 2, 100, 20),
            "l2_regularization": real("l2_regularization", 1e-4, 10.0, 1e-4),
            "max_features": real("max_features", 0.4, 1.0, 1.0, log=False),
        }
    if family == "linear":
        name = "C" if task.classification else "alpha"
        return family, {name: real(name, 1e-3, 1e3, 1.0)}
    if family == "kernel":
        penalty = (
            {"C": real("C", 1e-2, 1e4, 100.0)}
            if task.classification
            else {"alpha": real("alpha", 1e-4, 10.0, 0.01)}
        )
        return family, {**penalty, "gamma": real("gamma", 0.1, 10.0, 1.0)}
    if family == "knn":
        return family, {
            "n_neighbors": integer("n_neighbors", 2, 100, 10),
            "weights": hp.Choice(f"{family}_weights", ["uniform", "distance"], default="distance"),
        }
    params = {
        "width": integer("width", 32, 256, 256),
        "depth": integer("depth", 1, 3, 2, log=False),
        "dropout": real("dropout", 0.0, 0.4, 0.1, log=False),
        "learning_rate": real("learning_rate", 1e-4, 1e-2, 1e-3),
        "weight_decay": real("weight_decay", 1e-6, 1e-2, 1e-5),
    }
    if family == "realmlp":
        params["frequency_scale"] = real("frequency_scale", 0.01, 1.0, 0.1)
    return family, params


def portfolio(families: tuple[str, ...], task: Task) -> list[dict[str, Any]]:
    """The zero-shot configurations of ``families`` as Optuna parameters, best first.

    Swap this function to change the portfolio; the search enqueues what it returns.

    Example:
        >>> portfolio(("linear",), Task("regression"))
        [{'family': 'linear', 'linear_alpha': 1.0}]
    """
    configs = []
    for family, params in PORTFOLIO:
        if family not in families:
            continue
        keep = sample(HyperParameters({"family": family}), (family,), task)[1]
        configs.append({"family": family, **{f"{family}_{k}": params[k] for k in keep}})
    return configs
