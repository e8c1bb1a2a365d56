"""Observing and caching XLA compilations."""

from __future__ import annotations

import os
import threading
from types import TracebackType

import jax
import jax.monitoring

# The event JAX 0.10 records (in ``jax._src.dispatch``) once per XLA backend compilation;
# the others under this prefix time tracing and lowering.
_BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_COMPILE_EVENTS = "/jax/core/compile/"


class CompilationCounter:
    """Context manager counting the XLA backend compilations of its thread (not cache hits).

    Compilations in other threads (a search compiling the next trial ahead) are not counted.

    ``seconds`` adds up the time spent compiling: tracing, lowering and XLA's backend;
    ``names`` lists the compiled programs' function names, in order.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> triple, x = jax.jit(lambda v: v * 3), jnp.arange(5)
        >>> with CompilationCounter() as counter:
        ...     _ = triple(x)
        ...     _ = triple(x)  # a cache hit: not counted
        >>> counter.count, counter.seconds > 0
        (1, True)
    """

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.names: list[str] = []
        self._thread = threading.get_ident()

    def _listener(self, event: str, duration_secs: float, **kwargs: object) -> None:
        if threading.get_ident() != self._thread:
            return
        if event == _BACKEND_COMPILE_EVENT:
            self.count += 1
            self.names.append(str(kwargs.get("fun_name", "")))
        if event.startswith(_COMPILE_EVENTS):
            self.seconds += duration_secs

    def __enter__(self) -> CompilationCounter:
        self.count = 0
        self.seconds = 0.0
        self.names = []
        self._thread = threading.get_ident()
        jax.monitoring.register_event_duration_secs_listener(self._listener)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        jax.monitoring.unregister_event_duration_listener(self._listener)


def enable_compilation_cache(directory: str | os.PathLike[str]) -> str:
    """Turns on JAX's persistent compilation cache, caching every program.

    JAX keeps one cache per process: when one is already configured (by the user or an earlier
    search), it is kept and ``directory`` is not used.

    Args:
        directory: Where compiled programs are stored; created if missing.

    Returns:
        The absolute cache directory in use.

    Example:
        >>> enable_compilation_cache("hx_runs/jax_cache")  # doctest: +SKIP
    """
    current = getattr(jax.config, "jax_compilation_cache_dir", None)
    path = current or os.path.abspath(os.fspath(directory))
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
