"""User-facing errors: one line that names the problem and the fix, and a non-zero exit."""

from __future__ import annotations


class RarftError(Exception):
    """An error caused by the user's input or environment, shown as one line without a traceback."""

    exit_code = 2


class ConfigMismatchError(RarftError):
    """A run directory already holds samples made with a different configuration."""

    exit_code = 3
