import importlib.util

import numpy as np
import pytest

import hyperflax as hx
from hyperflax.testing import BRANIN_MIN, HARTMANN6_MIN, branin, hartmann6

MIN = hx.Objective("value", "min")


def _best(tuner_cls, fn, seed, tmp_path, **kw):
    tuner = tuner_cls(
        fn,
        objective=MIN,
        max_trials=50,
        seed=seed,
        directory=tmp_path,
        project_name=f"s{seed}",
        tracker=None,
        **kw,
    )
    tuner.search()
    return tuner.get_best_trials(1)[0].value


@pytest.mark.parametrize(
    ("fn", "optimum", "tolerance"), [(branin, BRANIN_MIN, 0.25), (hartmann6, HARTMANN6_MIN, 0.8)]
)
def test_tpe_beats_random_search(fn, optimum, tolerance, tmp_path):
    tpe = [_best(hx.tuners.BayesianOptimization, fn, s, tmp_path / "tpe") for s in range(3)]
    rnd = [_best(hx.tuners.RandomSearch, fn, s, tmp_path / "rnd") for s in range(3)]
    assert np.median(tpe) < np.median(rnd)
    assert np.median(tpe) - optimum < tolerance
    assert min(tpe) >= optimum - 1e-6  # nothing below the known minimum


def test_unknown_sampler_is_an_error():
    with pytest.raises(ValueError, match="sampler must be 'tpe' or 'gp', got 'cma'"):
        hx.tuners.BayesianOptimization(branin, objective=MIN, sampler="cma")


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="PyTorch is installed")
def test_gp_without_pytorch_fails_at_construction_naming_the_install():
    with pytest.raises(ImportError, match=r"GPSampler, which needs PyTorch: pip install torch"):
        hx.tuners.BayesianOptimization(branin, objective=MIN, sampler="gp")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="sampler='gp' needs PyTorch")
def test_gp_sampler_searches(tmp_path):
    assert (
        _best(hx.tuners.BayesianOptimization, branin, 0, tmp_path, sampler="gp") - BRANIN_MIN < 1.0
    )
