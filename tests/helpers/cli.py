"""Checking a command-line entry point's user-error exit."""


def one_line_error(capsys, code) -> str:
    """After an entry point returned ``code``: it must be 2, with an ``error: …`` line last on stderr and no
    traceback. Returns that line."""
    err = capsys.readouterr().err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert code == 2 and last.startswith("error: ") and "Traceback" not in err, err
    return last
