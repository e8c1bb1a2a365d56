"""Export trained Flax NNX models and load them back without Flax, pickle or the model's code.

An exported directory is both a hyperflax artifact (a ``jax.export`` program, pickle-free
weights and ``hyperflax.json``) and an MLflow ``python_function`` model.

Example:
    >>> from hyperflax.export import export_model, load_model
    >>> export_model(model, "exported/digits", example_input=x_train[:8])  # doctest: +SKIP
    >>> load_model("exported/digits").predict(x_test)  # doctest: +SKIP
"""

from hyperflax._errors import ArtifactError as ArtifactError
from hyperflax.export._export import export_model as export_model
from hyperflax.export._manifest import TensorSpec as TensorSpec
from hyperflax.export._predictor import Predictor as Predictor
from hyperflax.export._predictor import load_model as load_model
from hyperflax.export._quantize import QuantizationReport as QuantizationReport
from hyperflax.export._quantize import quantize as quantize

__all__ = [
    "ArtifactError",
    "Predictor",
    "QuantizationReport",
    "TensorSpec",
    "export_model",
    "load_model",
    "quantize",
]
