"""Quiet by default: each command's console says what the user must know, not what its libraries mutter.

`configure_console(verbose)` is called once at each command's entry point (data_prep, the recipes, the judge,
scripts/reply.py). Not verbose, it:
- logs replytune's own INFO lines and every library's warnings, one line each, `LEVEL logger: message`;
- keeps the chatty libraries (HTTP clients, file locks, sentence-transformers, the Argilla SDK) at WARNING;
- drops the KNOWN_HARMLESS warnings below, each filtered on the logger that emits it and by its message, so any other
  warning of the same library still shows;
- says each huggingface_hub retry line once (the same line with other numbers, "Retrying in 2s [Retry 2/5]", is a
  repeat).

`verbose=True` (`--verbose`) brings everything back: INFO from every library, the known-harmless warnings, every
retry line. Either way huggingface_hub's lines are printed once, not twice: the library puts its own handler on its
logger, which then also propagated to the root handler (every offline retry line came out twice).
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from dataclasses import dataclass

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
CHATTY_LOGGERS = (
    "httpx",
    "httpx2",
    "httpcore",
    "urllib3",
    "filelock",
    "sentence_transformers",
    "argilla.sdk",
    "absl",
)
HUB_LOGGER = "huggingface_hub"
HUB_HTTP_LOGGER = "huggingface_hub.utils._http"  # where its retry lines come from


@dataclass(frozen=True)
class Harmless:
    """A warning known to be harmless here: the logger that emits it, a regex its message matches, and why."""

    logger: str
    message: str
    why: str


KNOWN_HARMLESS = (
    Harmless(
        "bitsandbytes.backends.cpu.ops",
        r"^Failed to load CPU gemm_4bit_forward from kernels-community",
        "bitsandbytes looks for an optional faster CPU kernel (the `kernels` package) at import and falls back to its "
        "own; data_prep never runs 4-bit code, and the recipes on CPU run that fallback anyway (a GPU: CUDA kernels)",
    ),
    Harmless(
        "transformers.tokenization_utils_tokenizers",
        r"^Ignoring clean_up_tokenization_spaces=True for BPE tokenizer",
        "a BPE tokenizer (Qwen3) saved with clean_up_tokenization_spaces=True: transformers rightly skips the cleanup",
    ),
)
# Python `warnings` known to be harmless: (message regex, category, why). None are raised by data_prep today.
KNOWN_HARMLESS_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = ()


class _DropMessages(logging.Filter):
    """Drops the records whose message matches `pattern` (a logger filter: it sees that logger's own records)."""

    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


class _OnceEach(logging.Filter):
    """Lets each distinct line through once; numbers do not count ("Retrying in 2s [Retry 2/5]" repeats "... 1s")."""

    def __init__(self):
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        key = re.sub(r"\d+(\.\d+)?", "#", record.getMessage())
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


_installed: list[tuple[logging.Logger, logging.Filter]] = []


def configure_console(verbose: bool = False, level: int = logging.INFO, log_format: str = LOG_FORMAT) -> None:
    """Set up logging and warnings for a command's console (see the module docstring). Calling it again replaces what
    an earlier call installed, so a process that runs several commands (the tests) gets what the last one asked."""
    logging.basicConfig(level=level, format=log_format)
    for logger, installed in _installed:
        logger.removeFilter(installed)
    _installed.clear()
    # huggingface_hub adds its own StreamHandler to its logger at import: with propagation every line came out twice
    logging.getLogger(HUB_LOGGER).propagate = False
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
    if verbose:
        return
    for harmless in KNOWN_HARMLESS:
        _install(logging.getLogger(harmless.logger), _DropMessages(harmless.message))
    _install(logging.getLogger(HUB_HTTP_LOGGER), _OnceEach())
    for message, category, _ in KNOWN_HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


def _install(logger: logging.Logger, log_filter: logging.Filter) -> None:
    logger.addFilter(log_filter)
    _installed.append((logger, log_filter))


def no_progress_bars() -> None:
    """A command's `--no-progress`: no Hugging Face progress bars either (huggingface_hub's downloads, transformers'
    "Loading weights"; transformers reads the hub's setting at import, and is told directly when already imported)."""
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
