"""Secrets come from the environment or .env, and `redact` keeps their values out of anything written."""

import os

import pytest

from replytune import secrets


def test_environment_wins_over_dotenv_and_dotenv_fills_the_rest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("HF_TOKEN=hf_from_dotenv\nAPIFY_TOKEN=apify_from_dotenv\n")
    monkeypatch.setenv("HF_TOKEN", "hf_from_environment")
    monkeypatch.delenv("APIFY_TOKEN", raising=False)
    assert secrets.get_secret("HF_TOKEN") == "hf_from_environment"
    assert secrets.get_secret("APIFY_TOKEN") == "apify_from_dotenv"
    monkeypatch.delenv("APIFY_TOKEN")  # load_dotenv_file set it; don't leak it into later tests


def test_missing_required_secret_stops_with_its_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert secrets.get_secret("ANTHROPIC_API_KEY") is None
    with pytest.raises(SystemExit, match="ANTHROPIC_API_KEY is not set"):
        secrets.get_secret("ANTHROPIC_API_KEY", required=True)


def test_redact_removes_every_secret_value(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_abcdef123")
    monkeypatch.setenv("WANDB_API_KEY", "wandb_secret_value")
    text = "push with hf_abcdef123 then log to wandb_secret_value; plain words stay"
    assert secrets.redact(text) == "push with *** then log to ***; plain words stay"
    assert "hf_abcdef123" not in secrets.redact(repr(dict(os.environ)))
