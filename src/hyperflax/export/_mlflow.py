"""Writing the MLflow side of an artifact: ``MLmodel`` and environment via models-from-code.

The signature declares the outputs only. An input schema makes MLflow enforce it before the
model sees a request: a tensor schema refuses float64 and int64 arrays and every CSV request, a
column schema of doubles refuses int64 arrays and silently drops extra columns. Without one,
inputs reach ``Predictor.predict``, which casts float64 and int inputs to the program's dtype
and refuses the rest naming the expected shape and dtype; ``input_example.json`` (and
``hyperflax.json``) still show what to send.
"""

from pathlib import Path
from typing import Any

import numpy as np

from hyperflax.export._manifest import PYFUNC_FILE, installed_versions

REQUIREMENTS = ("hyperflax", "jax", "jaxlib", "numpy", "flatbuffers", "mlflow")
MLMODEL_FILE = "MLmodel"


def save_pyfunc(
    code_file: Path, path: Path, example_input: np.ndarray, example_output: np.ndarray
) -> None:
    """Save a models-from-code ``python_function`` model to the new directory ``path``.

    MLflow copies ``code_file`` into ``path`` and executes it once to validate the input
    example; nothing is pickled. Call :func:`finish_mlmodel` once every file is in ``path``.

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
        signature=infer_signature(model_output=example_output),
        input_example=example_input,
        pip_requirements=[
            f"{name}=={v}" for name, v in installed_versions(REQUIREMENTS).items() if v
        ],
    )


def finish_mlmodel(path: Path, onnx: dict[str, Any] | None = None) -> None:
    """Make ``path/MLmodel`` true of the finished artifact, free of the build machine's paths.

    ``model_code_path`` becomes the code file's name (MLflow records the temporary path it
    copied the file from, and loads only the name, from beside ``MLmodel``), and
    ``model_size_bytes`` the size of every file but ``MLmodel`` (MLflow measured the directory
    before the program and weights were moved in). With ``onnx`` (the manifest's ONNX entry),
    the model also gets MLflow's ``onnx`` flavor (``mlflow.onnx.load_model`` reads the graph).
    """
    from mlflow.models import Model

    mlmodel = Model.load(path / MLMODEL_FILE)
    mlmodel.flavors["python_function"]["model_code_path"] = PYFUNC_FILE
    if onnx is not None:
        import onnx as onnx_package

        mlmodel.add_flavor(
            "onnx", onnx_version=onnx_package.__version__, data=onnx["file"],
            providers=["CPUExecutionProvider"], code=None,
        )  # fmt: skip
    files = (p for p in path.rglob("*") if p.is_file() and p.name != MLMODEL_FILE)
    mlmodel.model_size_bytes = sum(p.stat().st_size for p in files)
    mlmodel.save(path / MLMODEL_FILE)
