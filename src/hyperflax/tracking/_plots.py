"""Optuna's plots of a study as PNG files."""

from __future__ import annotations

import logging
import pathlib
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

_LOGGER = logging.getLogger("hyperflax")
#: File stem -> name of the function in ``optuna.visualization.matplotlib``.
PLOTS = {
    "optimization_history": "plot_optimization_history",
    "param_importances": "plot_param_importances",
    "parallel_coordinate": "plot_parallel_coordinate",
}


def save_plots(study: optuna.Study, directory: pathlib.Path) -> list[pathlib.Path]:
    """Write the study's plots to ``directory/<name>.png``; skip any that cannot be made.

    A study without complete trials has no plots; importances need two complete trials and more
    than one parameter; any other plot that fails is left out (logged at debug level), it never
    fails the caller. Figures are closed
    once saved, and matplotlib's backend is left as the process chose it.

    Example:
        >>> import optuna, tempfile
        >>> study = optuna.create_study()
        >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
        >>> [p.name for p in save_plots(study, pathlib.Path(tempfile.mkdtemp()))][0]
        'optimization_history.png'
    """
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    n_params = len({name for trial in complete for name in trial.params})
    wanted = {
        stem: function
        for stem, function in PLOTS.items()
        if stem != "param_importances" or (len(complete) >= 2 and n_params > 1)
    }
    paths = {stem: directory / f"{stem}.png" for stem in wanted} if complete else {}
    return [path for stem, path in paths.items() if _save(study, wanted[stem], path)]


def _save(study: optuna.Study, function: str, path: pathlib.Path) -> bool:
    """Draw one plot with ``optuna.visualization.matplotlib.<function>`` into ``path``."""
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as optuna_plots

    figure = None
    try:
        with warnings.catch_warnings():  # "experimental", "importances all equal", ...
            warnings.simplefilter("ignore")
            figure = getattr(optuna_plots, function)(study).figure
        figure.savefig(path, dpi=100, bbox_inches="tight")
    except Exception as exc:
        _LOGGER.debug("hyperflax: no %s: %s", path.name, exc)
        return False
    finally:
        if figure is not None:
            plt.close(figure)
    return True
