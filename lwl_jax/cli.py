"""The one runner of the command-line entry points (``train.py``, ``evaluate.py``, ``python -m lwl_jax.*``)."""
from __future__ import annotations

import sys

from lwl_jax.errors import LWLError


def run(main, argv=None) -> int:
    """``main(argv)`` -> exit status. A user's mistake (an :class:`~lwl_jax.errors.LWLError`: bad data, config,
    checkpoint or output location) becomes one ``error: …`` line on stderr and exit status 2. Anything else is a
    bug in lwl_jax and propagates with its traceback."""
    try:
        return main(argv) or 0
    except LWLError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def entry_point(main):
    """``main(argv)`` as a command's entry point: ``entry(argv=None) -> exit status`` through :func:`run`."""
    return lambda argv=None: run(main, argv)
