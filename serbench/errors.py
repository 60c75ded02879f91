"""Errors a user can cause. The CLI prints their message on one line and exits 1.

Every message names the culprit (file, field, plugin) and says what to do, so
no traceback is needed; ``SERBENCH_DEBUG=1`` shows one anyway.
"""

from __future__ import annotations


class SerbenchError(Exception):
    """Base class of every error serbench reports to a user."""


class UnknownComponentError(SerbenchError, KeyError):
    """A component name that no registry entry or plugin provides."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DuplicateComponentError(SerbenchError):
    """Two components claim the same name in one kind."""


class PluginLoadError(SerbenchError):
    """A plugin's entry point failed to import or did not yield a component."""


class UsageError(SerbenchError):
    """A command-line option or argument is malformed (``--where model``); the CLI exits 2, not 1."""


class SpecError(SerbenchError):
    """A benchmark spec is malformed; the message names the file and field path."""


class DataError(SerbenchError):
    """A corpus or audio file is missing, unreadable, empty or silent."""


class BudgetViolation(SerbenchError):
    """An attack produced an example outside its threat model's budget."""


class RecordError(SerbenchError):
    """A stored result record is unreadable, edited by hand, or fails its checks; the message names the file."""
