import pytest

import hyperflax as hx

MIN = hx.Objective("value", "min")

# Every tuner, built the same way: the conformance suite runs on each.
TUNERS = {
    "random": lambda fn, **kw: hx.tuners.RandomSearch(fn, **kw),
    "tpe": lambda fn, **kw: hx.tuners.BayesianOptimization(fn, num_initial_points=5, **kw),
    "grid": lambda fn, **kw: hx.tuners.GridSearch(fn, **kw),
    "hyperband": lambda fn, **kw: hx.tuners.Hyperband(fn, max_epochs=9, **kw),
}


@pytest.fixture(params=sorted(TUNERS))
def make_tuner(request, tmp_path):
    def make(fn, **kw):
        kw.setdefault("objective", MIN)
        kw.setdefault("directory", tmp_path / "runs")
        kw.setdefault("tracker", None)  # tracking has its own tests
        return TUNERS[request.param](fn, **kw)

    make.kind = request.param
    return make


def _stepped(hp):
    """A finite space (grid-able) with an epoch loop (Hyperband-able); minimum 0 at x=3, k='b'."""
    x = hp.Int("x", 0, 6)
    k = hp.Choice("k", ["a", "b"])
    for epoch in range(9):
        hp.report((x - 3) ** 2 + (k == "a") + 1.0 / (epoch + 1), step=epoch)
    return (x - 3) ** 2 + (k == "a") + 1.0 / 9


@pytest.fixture
def stepped():
    return _stepped
