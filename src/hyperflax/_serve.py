"""``hyperflax serve``: MLflow's scoring server for an exported model, from any shell."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

from hyperflax.export import ArtifactError, load_model

_RULE = (
    "`path` must be a directory written by tuner.export_best(path) or "
    "hx.export_model(model, path, example_input=...)"
)


def serve_command(
    path: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 5001
) -> tuple[list[str], dict[str, str]]:
    """The ``mlflow models serve`` command line and environment that serve an exported model.

    MLflow starts its scoring server by running ``uvicorn`` from ``PATH``, which finds it only in
    an activated virtual environment; the environment returned here puts this interpreter's
    ``bin`` directory first on ``PATH``, so the server starts from any shell. ``path`` is checked
    first: it must load with ``hx.load_model`` and be an MLflow model.

    Args:
        path: a directory written by ``tuner.export_best`` or ``hx.export_model``.
        host: the address to listen on.
        port: the TCP port to listen on, 1 to 65535.

    Returns:
        The argument vector (starting with this interpreter) and the environment to run it with.

    Raises:
        ArtifactError: ``path`` is not an exported model (a ``ValueError`` too).
        ValueError: ``port`` is out of range.

    Example:
        >>> argv, env = serve_command("exported/digits", port=5001)  # doctest: +SKIP
        >>> argv[1:5]  # doctest: +SKIP
        ['-m', 'mlflow', 'models', 'serve']
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be an int in [1, 65535], got {port!r}")
    model = Path(path)
    try:
        load_model(model)
        if not (model / "MLmodel").is_file():
            raise ArtifactError(model, "no MLmodel file: not an MLflow model")
    except ArtifactError as e:
        raise ArtifactError(e.path, f"{e.problem}; {_RULE}") from e
    bin_dir = str(Path(sys.executable).parent)
    argv = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model.resolve())]
    argv += ["--env-manager", "local", "--host", host, "--port", str(port)]
    env = os.environ | {"PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}
    return argv, env


def serve(path: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 5001) -> NoReturn:
    """Serve an exported model at ``http://host:port/invocations``; this process becomes the server.

    Checks ``path`` and replaces this process with ``mlflow models serve`` (see
    :func:`serve_command`), so Ctrl-C and ``SIGTERM`` stop the server itself.

    Example:
        >>> serve("exported/digits", port=5001)  # doctest: +SKIP
    """
    argv, env = serve_command(path, host=host, port=port)
    os.execve(argv[0], argv, env)
