"""Every built-in tracker passes the conformance suite users can run on their own trackers."""

import hyperflax as hx
from hyperflax.testing import TrackerConformance


class TestMLflowTracker(TrackerConformance):
    def make_tracker(self, tmp_path):
        return hx.tracking.MLflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
