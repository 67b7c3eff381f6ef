"""The error hierarchy. Every error a user can cause says what was expected, what came and how
to fix it; the CLI maps ``DataError`` to exit code 1 and ``UsageError`` to exit code 2."""

from __future__ import annotations


class HccfusionError(Exception):
    """Base class of every error raised on purpose by hccfusion."""


class UsageError(HccfusionError):
    """The call itself is wrong: a bad option, a missing file, an unknown name (exit code 2)."""


class UnusableInputError(UsageError):
    """An input that cannot be read at all: not a workbook, a missing sheet, password-protected,
    empty (``crf validate`` exit code 2)."""


class DataError(HccfusionError):
    """The data breaks a rule (exit code 1)."""


class ValidationFailed(DataError):
    """A workbook has validation errors; ``report`` holds every finding."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class SchemaVersionError(DataError):
    """An artifact was written by an incompatible schema or format version."""


def closest(name: str, options: list[str] | tuple[str, ...]) -> str | None:
    """The option nearest to ``name`` (for "did you mean" hints), or None if none is close."""
    import difflib

    found = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_option(kind: str, name: str, options: list[str] | tuple[str, ...]) -> UsageError:
    """``unknown encoder 'uni_v3'; did you mean 'uni_v2'? Available: …``"""
    hint = closest(name, options)
    did_you_mean = f"; did you mean '{hint}'?" if hint else ""
    return UsageError(f"unknown {kind} '{name}'{did_you_mean} Available: {', '.join(options)}")
