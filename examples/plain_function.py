"""Tune a plain Python function with Bayesian optimization (the README's first example)."""

import hyperflax as hx


def objective(hp: hx.HyperParameters) -> float:
    x = hp.Float("x", -5.0, 5.0)
    kind = hp.Choice("kind", ["square", "abs"])
    for step in range(10):  # report as it goes: pruners and Hyperband can stop it early
        hp.report((x - 1.0) ** 2 + 1.0 / (step + 1), step=step)
    return (x - 1.0) ** 2 if kind == "square" else abs(x - 1.0)


if __name__ == "__main__":
    tuner = hx.tuners.BayesianOptimization(
        objective, objective=hx.Objective("value", "min"), max_trials=30, seed=0
    )
    tuner.search()
    tuner.results_summary(3)
    print(tuner.get_best_hyperparameters(1)[0].values)
