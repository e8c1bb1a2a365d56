"""MLflow models-from-code entry point of a hyperflax artifact.

``export_model`` copies this file into the artifact as ``hyperflax_pyfunc.py``. MLflow runs it to
get the pyfunc model, which loads the directory holding this file with
:func:`hyperflax.export.load_model`: no pickle, no Flax, no model code.

The MLmodel signature declares no input schema, so MLflow hands inputs over as they came (an
array, a list, the DataFrame of a CSV or ``dataframe_*`` request, the dict of columns of a
records request); the predictor casts them to the program's dtype or refuses them with the
expected shape and dtype, raised as an ``MlflowException`` (HTTP 400 from the scoring server).
"""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel, PythonModelContext

from hyperflax.export import load_model


def _as_array(model_input: Any) -> np.ndarray:
    """One array of rows from what MLflow passes: array, list, DataFrame or dict of columns."""
    if isinstance(model_input, dict):
        model_input = pd.DataFrame(model_input)
    if isinstance(model_input, pd.DataFrame):
        return model_input.to_numpy()
    return np.asarray(model_input)


class HyperflaxPyfunc(PythonModel):
    """Serves ``Predictor.predict`` of the artifact that contains this file."""

    def load_context(self, context: PythonModelContext) -> None:
        """Load the artifact directory this file was copied into."""
        self._predictor = load_model(Path(__file__).resolve().parent)

    def predict(
        self,
        context: PythonModelContext,
        model_input: np.ndarray,  # MLflow infers no schema from this hint, nor checks it
        params: dict[str, Any] | None = None,
    ) -> np.ndarray:
        """Regression outputs or class labels for a batch (float64 and int inputs are cast).

        A table model (an AutoML export) takes the DataFrame or columns as they come.

        ``model_input`` is what MLflow passes: an array, a list, a DataFrame or a dict of columns.
        """
        table = self._predictor.columns is not None  # columns by name: the frame as it is
        try:
            return self._predictor.predict(model_input if table else _as_array(model_input))
        except ValueError as e:  # pandas' too: a dict of columns of unequal lengths
            raise MlflowException.invalid_parameter_value(f"hyperflax model input: {e}") from e


set_model(HyperflaxPyfunc())
