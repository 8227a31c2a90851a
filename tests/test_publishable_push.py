"""What leaves the machine when an adapter is pushed (replytune/publishable.py and replytune/hub.py, shared by the
recipe's push and `judge publish`): path-free copies of the run files, and one commit with its tag or nothing at
all."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from replytune.errors import PushError, PushTargetError
from replytune.hub import PUSH_ATTEMPTS, check_push_target, push_files
from replytune.publishable import PUSHED_FILES, local_paths_of_run, publishable_bytes, publishable_files
from standins.hub import USER

HOME = "/home/alice/projects/replytune"


def _run_folder(tmp_path):
    """An output folder shaped like the recipe's, whose run files name absolute local paths (as they do today)."""
    folder = tmp_path / "adapter"
    folder.mkdir()
    config = {
        "dataset_name": f"{HOME}/data",
        "output_dir": str(folder),
        "learning_rate": 0.0002,
        "model_name_or_path": "C:\\Users\\alice\\models\\smollm2",
        "hub_model_id": "alice/replies",
        "logging_dir": "runs/demo",  # relative: says nothing about this machine
        "chat_template_path": "~/.cache/templates/qwen3.jinja",
    }
    header = "# The exact configuration of this run (config_hash abc); secrets redacted.\n"
    (folder / "resolved_config.yaml").write_text(header + yaml.safe_dump(config, sort_keys=False))
    metadata = {
        "dataset": f"{HOME}/data",
        "dataset_resolved": f"{HOME}/data/v3",
        "base_model": f"{HOME}/models/smollm2",
        "load_description": f"CPU: LoRA on the unquantized model at {HOME}/models/smollm2 (float32)",
        "card": "https://huggingface.co/alice/replies/blob/main/README.md",
        "metrics": {"eval_loss": 1.5, "steps": [1, 2]},
    }
    (folder / "run_metadata.json").write_text(json.dumps(metadata, indent=2))
    (folder / "plan.json").write_text(json.dumps({"train_examples": 32, "model": "Qwen/Qwen3-8B"}, indent=2))
    # a tokenizer whose vocabulary holds path-like tokens: pushed byte for byte, never "fixed"
    (folder / "tokenizer.json").write_text(json.dumps({"model": {"vocab": {"/usr/bin": 7, "/": 8, "/etc/x": 9}}}))
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "Qwen/Qwen3-8B"}))
    (folder / "adapter_model.safetensors").write_bytes(b"\x00weights" * 64)
    return folder


def test_publishable_copies_of_the_run_files_name_no_local_path(tmp_path):
    folder = _run_folder(tmp_path)
    config_text = publishable_bytes(folder / "resolved_config.yaml").decode()
    assert HOME not in config_text and str(tmp_path) not in config_text and "alice\\" not in config_text
    config = yaml.safe_load(config_text)
    assert (config["dataset_name"], config["output_dir"], config["model_name_or_path"]) == (
        "data",
        "adapter",
        "smollm2",
    )
    # the rest is untouched, and the file says what it changed
    assert (config["learning_rate"], config["hub_model_id"], config["logging_dir"]) == (
        0.0002,
        "alice/replies",
        "runs/demo",
    )
    assert config["chat_template_path"] == "~/.cache/templates/qwen3.jinja"
    assert config_text.startswith("# The exact configuration of this run (config_hash abc)")
    assert "shortened to their last part for publishing: dataset_name, output_dir, model_name_or_path." in config_text

    metadata = json.loads(publishable_bytes(folder / "run_metadata.json"))
    assert HOME not in json.dumps(metadata)
    assert (metadata["dataset"], metadata["dataset_resolved"], metadata["base_model"]) == ("data", "v3", "smollm2")
    assert metadata["load_description"] == "CPU: LoRA on the unquantized model at smollm2 (float32)"
    assert metadata["card"].startswith("https://huggingface.co/alice/replies/blob/")  # URLs are not paths
    assert metadata["metrics"] == {"eval_loss": 1.5, "steps": [1, 2]}
    assert metadata["local_paths_removed"] == ["dataset", "dataset_resolved", "base_model", "load_description"]

    # a file with nothing local in it, and the files libraries read back, go byte for byte
    for name in ("plan.json", "tokenizer.json", "adapter_config.json", "adapter_model.safetensors"):
        assert publishable_bytes(folder / name) == (folder / name).read_bytes(), name


def test_publishable_copies_redact_secrets_and_shorten_paths_in_any_text(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secretvalue123")
    notes = tmp_path / "validity.md"
    notes.write_text(f"judged {HOME}/eval/verdicts.jsonl with token hf_secretvalue123; see /srv/x/y.png, a/b/c, 3/4\n")
    assert publishable_bytes(notes).decode() == ("judged verdicts.jsonl with token ***; see y.png, a/b/c, 3/4\n")
    lines = tmp_path / "report.jsonl"
    lines.write_text(json.dumps({"system_spec": f"adapter:{HOME}/out@v1"}) + "\nnot json /opt/a/b\n")
    assert publishable_bytes(lines).decode().splitlines() == [
        '{"system_spec": "adapter:out@v1"}',
        "not json b",
    ]


def test_local_paths_of_a_run_are_the_folders_its_files_name(tmp_path):
    folder = _run_folder(tmp_path)
    found = local_paths_of_run(folder)
    assert str(folder.resolve()) in found and f"{HOME}/data/v3" in found and f"{HOME}/models/smollm2" in found
    assert "runs/demo" not in found and "Qwen/Qwen3-8B" not in found


# --- push_files: one commit and its tag, or nothing -----------------------------------------------------------------


@pytest.fixture
def no_retry_wait(monkeypatch):
    monkeypatch.setattr("replytune.hub.PUSH_RETRY_DELAY_S", 0.0)


def test_a_push_is_one_commit_holding_exactly_these_files_and_its_tag(hub_endpoint, tmp_path, no_retry_wait):
    from huggingface_hub import HfApi

    hub, repo = hub_endpoint, f"{USER}/replies"
    HfApi().create_repo(repo, private=True)
    HfApi().upload_file(path_or_fileobj=b"old\n", path_in_repo="eval/old_plot.png", repo_id=repo)
    folder = _run_folder(tmp_path)
    files = publishable_files(folder, PUSHED_FILES)
    hub.fail_requests("POST", r"/commit/main$", status=503, times=1)  # one bad moment: retried
    repo_id, commit = push_files(repo, files, True, "v1", None, "adapter v1", local_paths_of_run(folder))
    assert repo_id == repo and hub.tags(repo) == {"v1": commit}
    assert [r.status for r in hub.requests if r.path.endswith("/commit/main")] == [200, 503, 200]  # setup, ours
    commits = hub.commits(repo)
    assert commits[0].oid == commit and [c.title for c in commits[1:]] == [
        "Upload eval/old_plot.png with huggingface_hub",
        "initial commit",
    ]
    pushed = hub.repo_files(repo, revision="v1")
    # an earlier version's file is not part of this revision
    assert set(pushed) == {".gitattributes", *files} and "eval/old_plot.png" not in pushed
    assert pushed["tokenizer.json"] == (folder / "tokenizer.json").read_bytes()
    assert all(HOME.encode() not in data and str(tmp_path).encode() not in data for data in pushed.values())
    assert hub.is_private(repo)


def test_a_failed_commit_leaves_main_as_it_was_and_no_tag(hub_endpoint, tmp_path, no_retry_wait):
    from huggingface_hub import HfApi

    hub, repo = hub_endpoint, f"{USER}/replies"
    HfApi().create_repo(repo, private=True)
    head = hub.commits(repo)[0].oid
    files = publishable_files(_run_folder(tmp_path), PUSHED_FILES)
    hub.fail_requests("POST", r"/commit/main$", status=500, times=None)
    with pytest.raises(PushError, match="nothing was committed") as failed:
        push_files(repo, files, True, "v1", None, "adapter v1")
    assert failed.value.commit is None
    assert hub.commits(repo)[0].oid == head and hub.tags(repo) == {}
    commit_requests = [r for r in hub.requests if r.method == "POST" and r.path.endswith("/commit/main")]
    assert len(commit_requests) == PUSH_ATTEMPTS


def test_a_failed_tag_leaves_no_tag_and_the_same_push_again_tags_the_whole_commit(
    hub_endpoint, tmp_path, no_retry_wait
):
    hub, repo = hub_endpoint, f"{USER}/replies"
    files = publishable_files(_run_folder(tmp_path), PUSHED_FILES)
    hub.fail_requests("POST", r"/tag/", status=502, times=None)
    with pytest.raises(PushError, match="Run the same push again") as failed:
        push_files(repo, files, True, "v1", None, "adapter v1")
    commit = failed.value.commit
    assert hub.tags(repo) == {} and hub.commits(repo)[0].oid == commit
    assert set(hub.repo_files(repo, revision=commit)) == {".gitattributes", *files}  # whole, not half-written
    hub.fault = None
    assert push_files(repo, files, True, "v1", None, "adapter v1")[1] == commit
    assert hub.tags(repo) == {"v1": commit} and len(hub.commits(repo)) == 2  # tagged, nothing uploaded twice


def test_a_secret_or_a_local_path_in_any_file_stops_the_push_before_any_request(hub_endpoint, tmp_path, monkeypatch):
    hub, repo = hub_endpoint, f"{USER}/replies"
    folder = _run_folder(tmp_path)
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": f"{HOME}/models/smollm2"}))
    files = publishable_files(folder, PUSHED_FILES)
    with pytest.raises(PushError, match=f"adapter_config.json names the local path {HOME}/models/smollm2"):
        push_files(repo, files, True, "v1", None, "adapter v1", local_paths_of_run(folder))
    monkeypatch.setenv("WANDB_API_KEY", "wandb-key-0123456789")
    files["adapter_config.json"] = json.dumps({"base_model_name_or_path": "Qwen/Qwen3-8B"}).encode()
    files["notes.txt"] = b"key wandb-key-0123456789"
    with pytest.raises(PushError, match="a secret value appears in notes.txt"):
        push_files(repo, files, True, "v1", None, "adapter v1")
    assert hub.requests == [] and not hub.repo_exists(repo)


def test_the_push_target_check_refuses_a_taken_tag_and_a_public_repo_for_a_private_push(hub_endpoint):
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(f"{USER}/public", private=False)
    api.create_repo(f"{USER}/tagged", private=True)
    api.create_tag(f"{USER}/tagged", tag="v1")
    with pytest.raises(PushTargetError, match="exists and is public"):
        check_push_target("public", "v1", None, private=True)
    assert check_push_target("public", "v1", None, private=False) == f"{USER}/public"
    with pytest.raises(PushTargetError, match="tag 'v1' already exists"):
        check_push_target(f"{USER}/tagged", "v1", None, private=True)
    assert check_push_target("new-repo", "v1", None, private=True) == f"{USER}/new-repo"


@pytest.mark.parametrize(
    ("file_name", "content", "message"),
    [
        ("notes.txt", b"called with sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv", "an Anthropic API key"),
        ("notes.txt", b"OPENAI_API_KEY=sk-proj-AbCdEfGhIjKlMnOpQrStUvWx", "an OpenAI-style API key"),
        ("adapter_config.json", b'{"token": "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567"}', "a Hugging Face token"),
        ("eval/score_report.json", b'{"apify": "apify_api_AbCdEfGhIjKlMnOpQrStUvWx"}', "an Apify token"),
        ("README.md", b"clone with ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "a GitHub token"),
        ("tokenizer_config.json", b'{"name_or_path": "/home/bob/models/qwen3"}', "the absolute path /home/bob"),
        ("chat_template.jinja", b"{# from /Users/carol/templates/x.jinja #}", "the absolute path /Users/carol"),
        ("generation_config.json", b'{"cache": "C:\\\\Users\\\\dave\\\\hf"}', "the absolute path C:"),
        ("adapter_model.safetensors", b"\x1c" + b"\x00" * 7 + b'{"__metadata__":{"p":"/tmp/x"}}', "/tmp/x"),
    ],
)
def test_a_secret_shaped_string_or_a_foreign_path_stops_the_push_whatever_the_environment_holds(
    hub_endpoint, tmp_path, file_name, content, message
):
    """Not only this environment's secret values and this run's paths: a credential-shaped string or another
    machine's absolute path in any pushed file (one pushed byte for byte included) stops the push, before any
    request."""
    hub, repo = hub_endpoint, f"{USER}/replies"
    files = publishable_files(_run_folder(tmp_path), PUSHED_FILES)
    files[file_name] = content
    with pytest.raises(PushError, match=re.escape(message)):
        push_files(repo, files, True, "v1", None, "adapter v1")
    assert hub.requests == [] and not hub.repo_exists(repo)


def test_urls_hashes_relative_paths_and_vocabulary_are_not_mistaken_for_secrets_or_paths(hub_endpoint, tmp_path):
    files = publishable_files(_run_folder(tmp_path), PUSHED_FILES)
    files["notes.md"] = (
        b"https://huggingface.co/datasets/alice/replies/blob/v1/data and eval/data/x, ~/models, runs/home/x; "
        b"sha256 " + b"ab" * 32 + b"; task-sk-1, hf_hub_download, sk-learn, the token /home"
    )
    repo, commit = push_files(f"{USER}/replies", files, True, "v1", None, "adapter v1")
    assert hub_endpoint.tags(repo) == {"v1": commit}
