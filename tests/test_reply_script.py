"""scripts/reply.py on a local tiny adapter: the base model its run files name, the decoding and the prompt template
its evaluation recorded, no Hub call for a local adapter, and one-line refusals."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from scripts import reply
from tests.paths import REPO_ROOT

HUB_ID = "replytune-tests/tiny-qwen3"  # what the recipe writes into adapter_config.json: not on this machine
TWEET = "Shipping our first LoRA today!"
TEMPLATE = "Write a short reply to this tweet.\n{tweet}\n(one line)"
DECODING = {
    "max_new_tokens": 7,
    "do_sample": True,
    "temperature": 0.9,
    "top_p": 0.95,
    "top_k": 5,
    "repetition_penalty": 1.2,
    "seed": 11,
    "batch_size": 4,
    "enable_thinking": False,
    "stop_tokens": ["<|im_end|>"],
}


@pytest.fixture(scope="module")
def local_adapter(tiny_qwen3_dir, tmp_path_factory) -> Path:
    """A LoRA adapter saved as the recipe saves one: adapter_config.json names the base's Hub id, the run files the
    folder the run loaded it from."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("reply") / "adapter"
    lora = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_qwen3_dir), lora).save_pretrained(folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = HUB_ID
    (folder / "adapter_config.json").write_text(json.dumps(config))
    metadata = {"base_model": str(tiny_qwen3_dir), "base_model_hub_id": HUB_ID}
    (folder / "run_metadata.json").write_text(json.dumps(metadata))
    (folder / "resolved_config.yaml").write_text(yaml.safe_dump({"model_name_or_path": str(tiny_qwen3_dir)}))
    return folder


@pytest.fixture(scope="module")
def evaluation(local_adapter) -> Path:
    """An evaluation folder as judge generate leaves it, reduced to what reply.py reads from generation_report.json."""
    folder = local_adapter.parent / "eval"
    folder.mkdir()
    report = {"dataset": {"prompt_template": TEMPLATE, "version": "v1"}, "decoding": DECODING}
    (folder / "generation_report.json").write_text(json.dumps(report))
    return folder


def test_a_local_adapter_replies_with_its_evaluations_decoding_and_template(
    local_adapter, evaluation, tiny_qwen3_dir, tmp_path, monkeypatch, capsys
):
    from recipes import generation

    calls = []
    real_generate_replies = generation.generate_replies

    def recording(model, tokenizer, prompts, settings):
        calls.append((prompts, settings))
        return real_generate_replies(model, tokenizer, prompts, settings)

    monkeypatch.setattr(generation, "generate_replies", recording)
    output = tmp_path / "reply.json"
    arguments = ["--adapter", str(local_adapter), "--eval", str(evaluation), "--tweet", TWEET, "--cpu"]
    assert reply.main([*arguments, "--json", str(output)]) == 0, capsys.readouterr().err
    expected_settings = generation.GenerationSettings(**{**DECODING, "stop_tokens": ("<|im_end|>",)})
    expected_prompt = [{"role": "user", "content": TEMPLATE.format(tweet=TWEET)}]
    assert [(prompts, settings) for prompts, settings in calls] == [([expected_prompt], expected_settings)] * 2
    record = json.loads(output.read_text())
    assert record["base_model"] == str(tiny_qwen3_dir)  # run_metadata.json's, not adapter_config.json's Hub id
    assert record["decoding"]["max_new_tokens"] == 7 and set(record["replies"]) == {"base", "adapter"}

    # a flag overrides one value of the evaluation's decoding, and leaves the others
    plan = reply.plan_reply(reply.parse_arguments([*arguments, "--seed", "5", "--max-new-tokens", "3"]))
    assert plan.settings == generation.GenerationSettings(
        **{**DECODING, "stop_tokens": ("<|im_end|>",), "seed": 5, "max_new_tokens": 3}
    )
    assert (plan.base_model, plan.base_from) == (str(tiny_qwen3_dir), "run_metadata.json")


def test_without_an_evaluation_the_defaults_are_used_and_said(local_adapter, capsys):
    from data_prep.config import OutputConfig
    from recipes.generation import GenerationSettings

    plan = reply.plan_reply(reply.parse_arguments(["--adapter", str(local_adapter), "--tweet", TWEET]))
    assert plan.settings == GenerationSettings() and plan.settings.max_new_tokens == 128
    assert plan.prompt == [{"role": "user", "content": OutputConfig().prompt_template.format(tweet=TWEET)}]
    assert "no eval/generation_report.json and no --eval was given" in capsys.readouterr().err


def test_a_published_adapter_brings_its_evaluation_from_its_repo(local_adapter, evaluation, hub_endpoint):
    """judge publish pushes the evaluation as eval/generation_report.json: reply.py reads it from the tagged commit."""
    from huggingface_hub import HfApi

    from standins.hub import USER

    api, repo = HfApi(), f"{USER}/tiny-reply-lora"
    api.create_repo(repo, private=True)
    api.upload_folder(repo_id=repo, folder_path=str(local_adapter))
    api.upload_file(
        repo_id=repo,
        path_or_fileobj=str(evaluation / "generation_report.json"),
        path_in_repo="eval/generation_report.json",
    )
    api.create_tag(repo, tag="v1")
    plan = reply.plan_reply(reply.parse_arguments(["--adapter", repo, "--revision", "v1", "--tweet", TWEET]))
    assert plan.adapter.commit and plan.decoding_from == "the adapter's eval/generation_report.json"
    assert plan.settings.max_new_tokens == 7 and plan.settings.seed == 11
    assert plan.prompt[0]["content"] == TEMPLATE.format(tweet=TWEET)


def test_a_local_adapter_never_calls_the_hub(local_adapter, evaluation, tmp_path):
    """Online settings, the Hub's endpoint on a loopback port that records every connection: none may come."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    contacted: list = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connection, address = listener.accept()
            except TimeoutError:
                continue
            contacted.append(address)
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{listener.getsockname()[1]}", "HF_HOME": str(tmp_path)}
    env.update(HF_HUB_OFFLINE="0", TRANSFORMERS_OFFLINE="0", HF_DATASETS_OFFLINE="0")
    command = [sys.executable, "-m", "scripts.reply", "--adapter", str(local_adapter), "--eval", str(evaluation)]
    try:
        done = subprocess.run(
            [*command, "--tweet", TWEET, "--cpu"], env=env, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT
        )
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert done.returncode == 0, done.stderr
    assert "adapter (" in done.stdout
    assert not contacted, f"the Hub endpoint was contacted {len(contacted)} time(s)"


def test_an_empty_tweet_is_refused_in_one_line(capsys):
    for tweet in ("", "   \n"):
        assert reply.main(["--adapter", "/nowhere/adapter", "--tweet", tweet]) == 2
        error = capsys.readouterr().err
        assert error.startswith("error: --tweet is empty") and error.count("\n") == 1, error


def test_a_base_model_that_is_not_here_is_named_in_one_line(local_adapter, tmp_path, capsys):
    moved = tmp_path / "adapter"
    moved.mkdir()
    for name in ("adapter_model.safetensors", "resolved_config.yaml"):
        (moved / name).write_bytes((local_adapter / name).read_bytes())
    config = json.loads((local_adapter / "adapter_config.json").read_text())
    (moved / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "/gone/base"}))
    (moved / "run_metadata.json").write_text(json.dumps({"base_model": "/gone/weights"}))
    (moved / "resolved_config.yaml").write_text("model_name_or_path: /gone/weights\n")
    assert reply.main(["--adapter", str(moved), "--tweet", TWEET]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "/gone/base (adapter_config.json) is not on this machine" in error
    assert "/gone/weights (run_metadata.json) is not on this machine" in error
    assert "--base-model" in error
    assert reply.main(["--adapter", str(moved), "--eval", str(tmp_path / "nothing"), "--tweet", TWEET]) == 2
    assert "no generation_report.json there" in capsys.readouterr().err

    # the Hub id, when the run's base is not here: offline (as the tests are), one line names both, no traceback
    (moved / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": HUB_ID}))
    assert reply.main(["--adapter", str(moved), "--tweet", TWEET]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"base model {HUB_ID} (adapter_config.json; the run's /gone/weights" in errors[0]
    assert "cannot be loaded" in errors[0]
