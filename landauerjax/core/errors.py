"""Exceptions that mean "the user asked for something we cannot do", not a bug of ours.

Command lines (`experiments.common.run`) print such an error as one line,
`error: <message>`, and exit with `exit_code` instead of a traceback. Each
message names the problem and what to do about it. Each type also derives from
the built-in exception a caller would expect (ValueError, FileNotFoundError,
...), so `except ValueError` keeps working in library code.
"""

from __future__ import annotations


class UserError(Exception):
  """A mistake in what the user asked for. Exit code 2, like a usage error."""

  exit_code = 2


class ConfigError(UserError, ValueError):
  """A config key, value or flag that is unknown or out of range."""


class DataError(UserError, ValueError):
  """Data that exists but is not what was asked for (wrong file, not UTF-8, ...)."""


class DataNotFoundError(UserError, FileNotFoundError):
  """A data file or directory that is not where the user said it is."""


class CheckpointError(UserError, ValueError):
  """No checkpoint that verifies (missing, corrupt, non-finite, of another model, or
  a .pth that would run code when unpickled)."""


class WorkdirError(UserError, RuntimeError):
  """A workdir that cannot be used as asked: in use, or holding another run."""


class TrainingStopped(UserError, FloatingPointError):
  """A run stopped by a guard (non-finite or diverging loss). Exit code 1: the
  command was fine, the run failed; the message says which checkpoint is kept."""

  exit_code = 1
