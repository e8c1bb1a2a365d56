"""scikit-learn objects on disk through skops, loading only an explicit list of trusted types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import skops.io as sio

from hyperflax._errors import ArtifactError

# Every type that the fitted preprocessors and models of hyperflax.automl consist of, and
# nothing else: a file that needs any other type is refused.
TRUSTED: frozenset[str] = frozenset(
    {
        "functools.partial",  # QuantileTransformer / SimpleImputer internals
        "numpy.dtype",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.model_selection._split.KFold",  # TargetEncoder's folds
        "sklearn.utils.validation.check_array",
    }
)


def dump(obj: Any, path: Path) -> None:
    """Writes ``obj`` to ``path`` in skops format."""
    sio.dump(obj, path)


def load(path: Path) -> Any:
    """Reads a skops file whose types are all in :data:`TRUSTED`.

    Raises:
        ArtifactError: when the file needs a type outside the trusted list.
    """
    untrusted = set(sio.get_untrusted_types(file=path))
    if unknown := sorted(untrusted - TRUSTED):
        raise ArtifactError(path, f"it needs types that are not trusted: {unknown}")
    return sio.load(path, trusted=sorted(untrusted))
