"""Errors DeepSynth raises for the user to read (bad input, bad settings, refused packages).

The CLI prints these without a traceback and exits with status 2; anything else is a bug.
"""


class DeepSynthError(Exception):
    """A problem the user can fix; its message says what and where."""


class InputError(DeepSynthError, ValueError):
    """Bad input data: a missing file, an unknown column, a malformed line, an empty dataset."""


class PackageRefused(DeepSynthError):
    """An adapter package failed validation; nothing was written."""
