"""``python -m hyperflax``: the ``hyperflax`` command, for when its script is not on ``PATH``."""

from hyperflax.cli import main

main()
