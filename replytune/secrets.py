"""Secrets (HF_TOKEN, APIFY_TOKEN, ANTHROPIC_API_KEY, OPENAI_API_KEY, WANDB_API_KEY, ARGILLA_API_KEY) come from the
environment or a `.env` file.

They are read here and nowhere else, so that `redact` knows every value that must never reach a log,
a card, a pushed config or a tracker config.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import dotenv_values

SECRET_NAMES = (
    "HF_TOKEN",
    "APIFY_TOKEN",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",  # the judge's OpenAI-compatible endpoint, when it wants a key
    "WANDB_API_KEY",
    "REPLYTUNE_PSEUDONYM_KEY",
    "ARGILLA_API_KEY",  # curation: the Argilla user's key (`make argilla` sets the local owner's from it)
)


def load_dotenv_file(path: str | Path = ".env") -> None:
    """Fill the environment from `.env`; a variable already set in the environment wins."""
    path = Path(path)
    if not path.is_file():
        return
    for name, value in dotenv_values(path).items():
        if value is not None and name not in os.environ:
            os.environ[name] = value


def get_secret(name: str, required: bool = False) -> str | None:
    load_dotenv_file()
    value = os.environ.get(name) or None
    if required and value is None:
        raise SystemExit(f"{name} is not set: export it or put it in a .env file in the working directory")
    return value


def redact(text: str) -> str:
    """Replace every known secret value in `text` with `***`."""
    for name in SECRET_NAMES:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text
