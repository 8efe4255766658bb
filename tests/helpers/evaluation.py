"""Running evaluate.py in-process with a small tracker (the converted small model of the ``checkpoint`` fixture,
``tests/conftest.py``)."""
import os

from tests.helpers.cli import one_line_error

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = ["--config.image_sample_size=(64, 96)", "--config.net_opt_iter=3", "--config.net_opt_update_iter=1",
         "--config.sample_memory_size=4"]


def run_eval(*args):
    from evaluate import main

    return main(list(map(str, args)) + SMALL)


def eval_error(capsys, *args):
    """evaluate.py's one ``error:`` line (it must exit 2 with exactly one line)."""
    return one_line_error(capsys, run_eval(*args))
