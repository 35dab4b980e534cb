"""Errors the CLI reports as one line, in a module that imports nothing heavy: `aura grid --status` and `aura --help`
must not wait for torch and transformers to load."""


class EncoderError(ValueError):
    """The encoder name or folder does not hold a usable transformers model."""


class DataError(ValueError):
    """A data file is missing or malformed; the message names the file and row."""


class MissingDataError(DataError):
    """The files of a dataset are absent (as opposed to present but malformed)."""
