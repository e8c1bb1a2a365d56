"""Every built-in tuner passes the conformance suite users can run on their own tuners."""

import hyperflax as hx
from hyperflax.testing import TunerConformance


class TestRandomSearch(TunerConformance):
    def make_tuner(self, fn, **options):
        return hx.tuners.RandomSearch(fn, **options)


class TestBayesianOptimization(TunerConformance):
    def make_tuner(self, fn, **options):
        return hx.tuners.BayesianOptimization(fn, num_initial_points=5, **options)


class TestGridSearch(TunerConformance):
    def make_tuner(self, fn, **options):
        return hx.tuners.GridSearch(fn, **options)


class TestHyperband(TunerConformance):
    def make_tuner(self, fn, **options):
        return hx.tuners.Hyperband(fn, max_epochs=9, **options)
