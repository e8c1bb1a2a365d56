"""The artifact's ``hyperflax.json``: file names, tensor specs, checksums, reading and writing."""

import dataclasses
import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from hyperflax._errors import ArtifactError

FORMAT_NAME = "hyperflax.export"
FORMAT_VERSION = 1
MANIFEST_FILE = "hyperflax.json"
PROGRAM_FILE = "program.jaxexport"
ARRAYS_FILE = "arrays.npz"
PYFUNC_FILE = "hyperflax_pyfunc.py"


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """The dtype and shape of a model input or output; ``None`` marks the batch dimension.

    Example:
        >>> TensorSpec(np.dtype("float32"), (None, 4)).to_json()
        {'dtype': 'float32', 'shape': [None, 4]}
    """

    dtype: np.dtype
    shape: tuple[int | None, ...]

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """The shape of one example (everything after the batch dimension)."""
        return tuple(int(d) for d in self.shape[1:] if d is not None)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form written to ``hyperflax.json``."""
        return {"dtype": self.dtype.name, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, data: Any) -> "TensorSpec":
        """Parse the JSON form; raises ``TypeError``/``KeyError``/``ValueError`` if malformed."""
        shape = tuple(None if d is None else int(d) for d in data["shape"])
        if not shape or shape[0] is not None or None in shape[1:]:
            raise ValueError(f"shape must be [null, dims...], got {data['shape']!r}")
        return cls(np.dtype(data["dtype"]), shape)


def installed_versions(distributions: tuple[str, ...]) -> dict[str, str | None]:
    """Return each distribution's installed version, ``None`` where it is not installed."""
    versions: dict[str, str | None] = {}
    for name in distributions:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _json_default(value: Any) -> Any:
    """Convert numpy scalars and arrays (common in metrics) to plain JSON values."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def to_json_text(manifest: dict[str, Any]) -> str:
    """Serialize a manifest, turning numpy values into plain ones.

    Raises:
        TypeError: If a value (e.g. in user metadata) cannot be written as JSON.
    """
    return json.dumps(manifest, indent=2, sort_keys=True, default=_json_default)


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Write ``hyperflax.json`` with the sha256 of every other file under ``directory``."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST_FILE)
    checksums = {p.relative_to(directory).as_posix(): _sha256(p) for p in files}
    text = to_json_text({**manifest, "files": checksums})
    (directory / MANIFEST_FILE).write_text(text, encoding="utf-8")


def _verify_files(directory: Path, checksums: Any) -> None:
    if not isinstance(checksums, dict):
        raise ArtifactError(directory, f"'files' in {MANIFEST_FILE} is not a mapping")
    for name, expected in checksums.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise ArtifactError(directory, f"file name {name!r} points outside the artifact")
        path = directory / relative
        if not path.is_file():
            raise ArtifactError(path, "file listed in hyperflax.json is missing")
        if _sha256(path) != expected:
            raise ArtifactError(path, "sha256 mismatch: the file is corrupted or was modified")


def read_manifest(directory: Path) -> dict[str, Any]:
    """Read ``hyperflax.json``, check its format version and every file's sha256.

    Raises:
        ArtifactError: If the directory is missing, foreign, too new or corrupted.
    """
    if not directory.is_dir():
        raise ArtifactError(directory, "not an existing directory")
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ArtifactError(directory, f"no {MANIFEST_FILE}: not a hyperflax artifact")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(manifest_path, f"not valid JSON ({e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ArtifactError(manifest_path, f"'format' is not {FORMAT_NAME!r}")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ArtifactError(manifest_path, f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ArtifactError(
            manifest_path,
            f"format version {version} was written by a newer hyperflax (this one reads up to "
            f"{FORMAT_VERSION}); upgrade hyperflax to load it",
        )
    _verify_files(directory, manifest.get("files"))
    return manifest
