"""MLflow models-from-code entry point of a hyperflax artifact.

``export_model`` copies this file into the artifact as ``hyperflax_pyfunc.py``. MLflow runs it to
get the pyfunc model, which loads the directory holding this file with
:func:`hyperflax.export.load_model`: no pickle, no Flax, no model code.
"""

from pathlib import Path
from typing import Any

import numpy as np
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel, PythonModelContext

from hyperflax.export import load_model


class HyperflaxPyfunc(PythonModel):
    """Serves ``Predictor.predict`` of the artifact that contains this file."""

    def load_context(self, context: PythonModelContext) -> None:
        """Load the artifact directory this file was copied into."""
        self._predictor = load_model(Path(__file__).resolve().parent)

    def predict(
        self,
        context: PythonModelContext,
        model_input: np.ndarray,
        params: dict[str, Any] | None = None,
    ) -> np.ndarray:
        """Regression outputs or class labels for a batch."""
        return self._predictor.predict(np.asarray(model_input))


set_model(HyperflaxPyfunc())
