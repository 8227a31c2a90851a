"""The errors every stage shares, and the one table of exit codes every command returns.

A command stops in one of two ways, and a user acts differently on each:
- refused (`Refused`, exit 2): what it was given cannot be used (a config field, a flag, an input file, a version
  that exists, a push target); the message names it, and nothing was done that the same command must undo;
- failed (exit 1): the work itself broke (an API after its retries, a push, a model): fix the cause and run the
  same command again.

Each stage keeps its own refusal classes (ConfigError, PublishError, RecipeConfigError, ...) for their messages and
tests; they all subclass `Refused`, so a command catches every refusal with one `except Refused`.
"""

from __future__ import annotations

EXIT_OK = 0  # done
EXIT_FAILED = 1  # failed while working; the same command again continues or redoes it (collect: with --resume)
EXIT_REFUSED = 2  # refused before the work, naming why: a config field, a flag, an input, a push target
EXIT_INTERRUPTED = 130  # Ctrl-C: what was checkpointed is kept


class Refused(Exception):
    """The base of every refusal: the input, config or target cannot be used as given; the message names it."""


class InputError(Refused, ValueError):
    """An input path that cannot be read: missing, not JSON, or malformed (the message names file and line)."""


class PushError(RuntimeError):
    """A push that did not complete. `commit`: the sha of a whole commit that landed but could not be tagged, or
    None when nothing landed."""

    def __init__(self, message: str, commit: str | None = None):
        super().__init__(message)
        self.commit = commit


class PushTargetError(Refused, ValueError):
    """The repo or tag a push would go to cannot be used (the Hub does not answer, the tag exists, a private push
    into a public repo); checked before any work, so nothing was uploaded."""
