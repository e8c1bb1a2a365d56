"""Publishing a directory atomically: build beside the target, then rename into place."""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hyperflax.export._manifest import MANIFEST_FILE

RESULT = "result"


def check_target(target: Path, *, overwrite: bool) -> None:
    """Refuse an existing target unless ``overwrite``; never replace a foreign directory.

    Raises:
        FileExistsError: If ``target`` exists and may not be replaced.
    """
    if not target.exists() and not target.is_symlink():
        return
    if not overwrite:
        raise FileExistsError(f"'{target}' already exists; pass overwrite=True to replace it")
    if not target.is_dir() or target.is_symlink():
        raise FileExistsError(f"'{target}' exists and is not a directory; not replacing it")
    if any(target.iterdir()) and not (target / MANIFEST_FILE).is_file():
        raise FileExistsError(
            f"'{target}' is a non-empty directory without {MANIFEST_FILE}; refusing to replace "
            "something that is not a hyperflax artifact"
        )


@contextlib.contextmanager
def atomic_directory(target: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield an empty scratch directory beside ``target``; publish its ``result`` on success.

    The caller writes the new directory to ``scratch / RESULT``. When the block ends without an
    exception it becomes ``target`` by rename (an old target is moved aside first and deleted
    only once the new one is in place). Whatever happens, the scratch directory is removed, so
    a failure leaves neither a partial target nor temporary files.

    Args:
        target: The directory to create or replace.
        overwrite: Whether an existing artifact at ``target`` may be replaced.

    Raises:
        FileExistsError: See :func:`check_target`.

    Example:
        >>> with atomic_directory(Path("out"), overwrite=False) as scratch:  # doctest: +SKIP
        ...     (scratch / RESULT).mkdir()
    """
    check_target(target, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield scratch
        check_target(target, overwrite=overwrite)  # another writer may have been faster
        if target.exists():
            os.rename(target, scratch / "previous")
            try:
                os.rename(scratch / RESULT, target)
            except BaseException:
                os.rename(scratch / "previous", target)
                raise
        else:
            os.rename(scratch / RESULT, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
