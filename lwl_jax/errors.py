"""The project's error classes. Each message is one line meant for the user: it names the file (or key) and the
problem. Command-line entry points print it as ``error: …`` and exit with status 2; any other exception is a bug
in lwl_jax and keeps its traceback."""
from __future__ import annotations

import errno
import os


class LWLError(Exception):
    """A user-facing error (bad input, unusable output location, …)."""


class DatasetError(LWLError):
    """Bad or missing input data; the message names the file and the problem (one line)."""


class CheckpointError(LWLError):
    """A checkpoint cannot be read or does not fit the model (the message says which file and why)."""


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint's pickle asks for a callable that could execute code; it was refused, nothing ran."""


class ConfigError(LWLError, ValueError):
    """A config file, key or value that cannot be used (the message names the key, what it expects and what it got)."""


class OutputError(LWLError):
    """An output cannot be written (read-only folder, disk full, …); what was written before stays valid."""


def output_error(path, e: OSError) -> OutputError:
    """The one-line error for an OSError met while writing ``path``."""
    reason = e.strerror or str(e)
    if e.errno == errno.ENOSPC:
        reason = "no space left on the device"
    where = os.fspath(path)
    return OutputError(f"{where}: cannot write ({reason})")


class writing:
    """``with writing(path): …`` turns an OSError raised inside into :class:`OutputError` naming ``path``."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        if kind is not None and issubclass(kind, OSError) and not isinstance(e, LWLError):
            raise output_error(getattr(e, "filename", None) or self.path, e) from None
        return False
