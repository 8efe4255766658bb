"""Errors of the checkpoint import; their message is one line meant for the user."""


class CheckpointError(Exception):
    """A checkpoint cannot be read or does not fit the model (the message says which file and why)."""


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint's pickle asks for a callable that could execute code; it was refused, nothing ran."""
