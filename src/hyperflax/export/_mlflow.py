"""Writing the MLflow side of an artifact: ``MLmodel`` and environment via models-from-code."""

from pathlib import Path

import numpy as np

from hyperflax.export._manifest import installed_versions

REQUIREMENTS = ("hyperflax", "jax", "jaxlib", "numpy", "flatbuffers", "mlflow")


def save_pyfunc(
    code_file: Path, path: Path, example_input: np.ndarray, example_output: np.ndarray
) -> None:
    """Save a models-from-code ``python_function`` model to the new directory ``path``.

    MLflow copies ``code_file`` into ``path`` and executes it once to validate the input
    example; nothing is pickled.

    Args:
        code_file: The pyfunc module, placed beside a loadable hyperflax artifact.
        path: Where MLflow writes the model; must not exist yet.
        example_input: A small input batch (saved as the MLflow input example).
        example_output: The artifact's predictions for ``example_input`` (for the signature).
    """
    import mlflow
    from mlflow.models import infer_signature

    mlflow.pyfunc.save_model(
        path=path,
        python_model=str(code_file),
        signature=infer_signature(example_input, example_output),
        input_example=example_input,
        pip_requirements=[
            f"{name}=={v}" for name, v in installed_versions(REQUIREMENTS).items() if v
        ],
    )
