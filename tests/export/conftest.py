"""Artifacts shared by the export tests, exported once per session."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from export_models import CLASSES, MLP, N_FEATURES, ConvNet, images, tabular
from flax import nnx

from hyperflax.export import export_model


@pytest.fixture(scope="session")
def regressor() -> MLP:
    return MLP(N_FEATURES, 2, rngs=nnx.Rngs(0))


@pytest.fixture(scope="session")
def regressor_path(regressor: MLP, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_model(
        regressor,
        tmp_path_factory.mktemp("export") / "regressor",
        example_input=tabular(4),
        metadata={"hyperparameters": {"units": 16}, "metrics": {"val_mse": np.float32(0.25)}},
    )


@pytest.fixture(scope="session")
def classifier() -> ConvNet:
    return ConvNet(len(CLASSES), rngs=nnx.Rngs(1))


@pytest.fixture(scope="session")
def classifier_path(classifier: ConvNet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_model(
        classifier,
        tmp_path_factory.mktemp("export") / "classifier",
        example_input=images(3),
        class_labels=CLASSES,
    )


@pytest.fixture
def artifact(regressor_path: Path, tmp_path: Path) -> Path:
    """A private copy of the regressor artifact that a test may damage."""
    return Path(shutil.copytree(regressor_path, tmp_path / "copy"))
