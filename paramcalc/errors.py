"""The exceptions a user can see: each carries one line that names the problem."""

from __future__ import annotations


class ParamcalcError(Exception):
    """Base class: a problem with the user's input, reported as one line."""


class ConfigError(ParamcalcError):
    """A hyperparameter is missing, mistyped or out of range."""


class PresetError(ParamcalcError):
    """A preset or a user TOML file cannot be found or read."""


class DataError(ParamcalcError):
    """A training corpus is missing, unreadable or too short."""


class CheckpointError(ParamcalcError):
    """A checkpoint cannot be written or is not a paramcalc checkpoint."""


class HubError(ParamcalcError):
    """A model or its files cannot be had from the Hugging Face Hub (or its local cache)."""


class SolveError(ParamcalcError):
    """A budget question has no answer, or is malformed."""


def first_line(error: BaseException) -> str:
    """The first line of a library's message (torch's can carry a C++ stack trace)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
