"""What every command line shares: a flag that cannot be used is refused in ONE line.

argparse's own `error` prints the whole usage before the message: for the recipes (TrlParser lists every field of
SFTConfig) `--learning_rate abc` came out as 163 lines with the one that matters last. `OneLineErrors` prints
`PROG: error: MESSAGE (--help lists the options)` and exits with the refusal status of replytune/errors.py.
"""

from __future__ import annotations

import argparse
import sys

from replytune.errors import EXIT_REFUSED


class OneLineErrors:
    """Mix in before an ArgumentParser class (argparse's, HfArgumentParser, TrlParser): one-line flag errors.
    Subparsers made by `add_subparsers` are of the parent's class, so they get it too."""

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message} (--help lists the options)\n")
        sys.exit(EXIT_REFUSED)


class ArgumentParser(OneLineErrors, argparse.ArgumentParser):
    """argparse.ArgumentParser with one-line errors."""


def take_flag(argv: list[str], flag: str) -> tuple[list[str], bool]:
    """(argv without the boolean `flag`, whether it was there): for a flag read before the parser exists (--verbose
    has to set up the console before the libraries that print at import load)."""
    return [arg for arg in argv if arg != flag], flag in argv
