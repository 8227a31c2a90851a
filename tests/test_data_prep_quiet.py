"""Quiet by default (replytune/quiet.py at data_prep's entry point): the libraries' known-harmless warnings are not
printed, a huggingface_hub retry line is printed once (it came out twice), and `--verbose` brings them back.

The lines are emitted, as the libraries emit them, from inside a command run in a fresh process: its console is what
a user sees."""

import subprocess
import sys

import pytest

from tests.paths import REPO_ROOT

GEMM = (
    "Failed to load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'. Please make sure you "
    "already `pip install kernels` and the kernels >= 0.11.1"
)
BPE = "Ignoring clean_up_tokenization_spaces=True for BPE tokenizer Qwen2TokenizerFast. The clean_up_tokenization ..."
COMMAND = f"""
import logging, sys
import huggingface_hub  # its import puts its own handler on its logger, as in any run that uses the Hub
from data_prep import __main__ as cli

def build(args):
    logging.getLogger("bitsandbytes.backends.cpu.ops").warning({GEMM!r})
    logging.getLogger("transformers.tokenization_utils_tokenizers").warning({BPE!r})
    hub = logging.getLogger("huggingface_hub.utils._http")
    hub.warning("'[Errno -2] Name or service not known' thrown while requesting HEAD https://huggingface.co/x")
    for attempt in (1, 2, 3):
        hub.warning(f"Retrying in {{attempt}}s [Retry {{attempt}}/5].")
    logging.getLogger("bitsandbytes.backends.cpu.ops").warning("gemv_4bit has no autograd kernel: gradients are wrong")
    logging.getLogger("data_prep.build").warning("a warning of our own")
    return 0

cli.run_build = build
sys.exit(cli.main(["build", "--input", "in.json", "--output", "out", *sys.argv[1:]]))
"""


def console(*flags: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-c", COMMAND, *flags], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    return (run.stdout + run.stderr).splitlines()


@pytest.mark.parametrize("verbose", [False, True])
def test_known_harmless_warnings_are_silenced_unless_verbose_and_retries_are_said_once(verbose):
    lines = console(*(["--verbose"] if verbose else []))
    text = "\n".join(lines)
    # never silenced: another warning of the same library, and our own
    assert sum("gemv_4bit has no autograd kernel" in line for line in lines) == 1, text
    assert sum("a warning of our own" in line for line in lines) == 1, text
    assert sum("thrown while requesting HEAD" in line for line in lines) == 1, text  # once, not twice
    retries = [line for line in lines if "Retrying in" in line]
    if verbose:
        assert sum(GEMM in line for line in lines) == 1 and sum(BPE in line for line in lines) == 1, text
        assert len(retries) == 3, text  # every retry, each once
    else:
        assert GEMM not in text and "clean_up_tokenization_spaces" not in text
        assert len(retries) == 1, text  # the same line with other numbers is a repeat
