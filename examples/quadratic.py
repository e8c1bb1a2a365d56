"""A plain-function objective whose space is declared in quadratic_config.yaml."""


def objective(hp):
    return (hp["x"] - 1.0) ** 2 + hp["k"]
