"""Round trips through the offline Hub stand-in with the real clients (huggingface_hub, datasets, peft).

If these pass, a dataset or adapter that replytune publishes can be loaded back by tag, exactly.
"""

from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, file_exists, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from standins.hub import TOKEN, USER


def _assert_token_only_in_authorization(hub) -> None:
    # hub.requests keeps every header except Authorization: the token must not leak into URLs or other headers.
    assert hub.requests
    for request in hub.requests:
        assert TOKEN not in request.path
        assert all(TOKEN not in value for value in request.headers.values())


def test_dataset_dict_round_trip_by_tag(hub_endpoint):
    from datasets import Dataset, DatasetDict, load_dataset

    hub, api, repo = hub_endpoint, HfApi(), f"{USER}/reply-pairs"
    v1 = DatasetDict(
        train=Dataset.from_dict({"tweet": ["gm", "ship it?"], "reply": ["gm!", "ship it."], "likes": [3, 10]}),
        test=Dataset.from_dict({"tweet": ["why?"], "reply": ["because."], "likes": [1]}),
    )
    v2 = DatasetDict(
        train=Dataset.from_dict({"tweet": ["gm", "new", "more"], "reply": ["gm :)", "hi", "ok"], "likes": [4, 5, 6]}),
        test=Dataset.from_dict({"tweet": ["why not?", "when?"], "reply": ["sure.", "now."], "likes": [2, 7]}),
    )
    v1.push_to_hub(repo, private=True)
    api.create_tag(repo, tag="v1", repo_type="dataset")
    v2.push_to_hub(repo, private=True)
    api.create_tag(repo, tag="v2", repo_type="dataset")

    assert hub.is_private(repo, "dataset") and api.dataset_info(repo).private
    assert any(path.endswith(".parquet") for path in hub.lfs_paths(repo, "dataset", "v1"))  # parquet went via LFS
    for tag, expected in (("v1", v1), ("v2", v2)):
        loaded = load_dataset(repo, revision=tag)
        assert sorted(loaded) == ["test", "train"]
        for split in ("train", "test"):
            assert loaded[split].to_list() == expected[split].to_list(), (tag, split)
    assert load_dataset(repo, split="train").to_list() == v2["train"].to_list()  # main is the latest push

    with pytest.raises(RepositoryNotFoundError):  # private: invisible without a token
        HfApi(token=False).dataset_info(repo)
    _assert_token_only_in_authorization(hub)
    assert not any(r.authorized for r in hub.requests if r.method == "PUT")  # LFS PUTs go to "presigned" URLs


def _tiny_qwen3(seed: int = 0):
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=256,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        intermediate_size=128,
    )
    return Qwen3ForCausalLM(config).eval()


def _adapter(seed: int):
    import torch
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
    model = get_peft_model(_tiny_qwen3(), config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # LoRA B starts at zero, which would make every adapter a no-op
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    return model.eval()


def test_peft_adapter_round_trip_by_tag(hub_endpoint):
    import torch
    from peft import PeftModel

    hub, api, repo = hub_endpoint, HfApi(), f"{USER}/tiny-qwen3-lora"
    input_ids = torch.tensor([[1, 5, 42, 7, 99, 3]])

    with torch.no_grad():
        base_logits = _tiny_qwen3()(input_ids).logits
        first, second = _adapter(seed=1), _adapter(seed=2)
        logits_v1, logits_v2 = first(input_ids).logits, second(input_ids).logits
    assert not torch.equal(logits_v1, base_logits) and not torch.equal(logits_v1, logits_v2)

    first.push_to_hub(repo, private=True)
    api.create_tag(repo, tag="v1")
    second.push_to_hub(repo, private=True, commit_message="second adapter")
    api.create_tag(repo, tag="v2")
    assert "adapter_model.safetensors" in hub.lfs_paths(repo, revision="v1") and hub.is_private(repo)

    with torch.no_grad():
        reloaded_v1 = PeftModel.from_pretrained(_tiny_qwen3(), repo, revision="v1").eval()(input_ids).logits
        reloaded_v2 = PeftModel.from_pretrained(_tiny_qwen3(), repo, revision="v2").eval()(input_ids).logits
    assert torch.equal(reloaded_v1, logits_v1) and not torch.equal(reloaded_v1, logits_v2)
    assert torch.equal(reloaded_v2, logits_v2)
    _assert_token_only_in_authorization(hub)


def test_refs_commits_resolve_and_errors(hub_endpoint):
    hub, api, repo = hub_endpoint, HfApi(), f"{USER}/plain"
    api.create_repo(repo)
    api.create_repo(repo, exist_ok=True)
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_repo(repo)
    assert conflict.value.response.status_code == 409
    weights = bytes(range(256)) * 40  # binary: must travel through LFS
    api.upload_file(path_or_fileobj=b"hello stand-in\n", path_in_repo="notes/a.txt", repo_id=repo)
    api.upload_file(path_or_fileobj=weights, path_in_repo="weights.bin", repo_id=repo, commit_message="weights")
    api.create_tag(repo, tag="v1")
    api.upload_file(path_or_fileobj=b"changed\n", path_in_repo="notes/a.txt", repo_id=repo, commit_message="edit")
    api.create_branch(repo, branch="dev", revision="v1")
    api.delete_file("weights.bin", repo_id=repo, commit_message="drop weights")

    # Commits newest first; refs show tags and branches; older revisions stay readable.
    commits = api.list_repo_commits(repo)
    assert [c.title for c in commits] == [
        "drop weights",
        "edit",
        "weights",
        "Upload notes/a.txt with huggingface_hub",
        "initial commit",
    ]
    assert commits[0].commit_id == api.repo_info(repo).sha
    refs = api.list_repo_refs(repo)
    assert {t.name: t.target_commit for t in refs.tags} == {"v1": commits[2].commit_id}
    assert {b.name for b in refs.branches} == {"main", "dev"}
    assert hub.repo_files(repo, revision="v1")["notes/a.txt"] == b"hello stand-in\n"
    assert "weights.bin" not in api.list_repo_files(repo)
    assert "weights.bin" in api.list_repo_files(repo, revision="dev")
    assert [f.path for f in api.list_repo_tree(repo, revision="v1")] == ["notes", ".gitattributes", "weights.bin"]
    assert hub.lfs_paths(repo, revision="v1") == {"weights.bin"}

    # Downloads by tag, branch and sha; the LFS file round-trips byte for byte.
    assert Path(hf_hub_download(repo, "weights.bin", revision="v1")).read_bytes() == weights
    assert Path(hf_hub_download(repo, "notes/a.txt")).read_bytes() == b"changed\n"
    old_sha = commits[3].commit_id
    assert Path(hf_hub_download(repo, "notes/a.txt", revision=old_sha)).read_bytes() == b"hello stand-in\n"
    assert Path(snapshot_download(repo, revision="dev"), "weights.bin").read_bytes() == weights
    # huggingface_hub.file_exists & co are bound to a module-level HfApi (peft uses them): the fixture re-aims it.
    assert file_exists(repo, "weights.bin", revision="v1") and not file_exists(repo, "weights.bin")
    assert api.revision_exists(repo, "v1") and not api.revision_exists(repo, "v9")
    info = api.get_paths_info(repo, ["weights.bin", "notes", "missing"], revision="v1")
    assert [(type(i).__name__, i.path) for i in info] == [("RepoFile", "weights.bin"), ("RepoFolder", "notes")]
    assert info[0].lfs.sha256 and info[0].size == len(weights)

    # Range requests and the headers hf_hub_download relies on.
    url = f"{hub.url}/{repo}/resolve/v1/weights.bin"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    head = httpx.head(url, headers=auth)
    assert head.headers["X-Repo-Commit"] == commits[2].commit_id
    assert head.headers["X-Linked-Size"] == head.headers["Content-Length"] == str(len(weights))
    assert head.headers["ETag"] == head.headers["X-Linked-Etag"] == f'"{info[0].lfs.sha256}"'
    part = httpx.get(url, headers={**auth, "Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == weights[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(weights)}"
    assert httpx.get(url, headers={**auth, "Range": "bytes=-5"}).content == weights[-5:]
    assert httpx.get(url, headers={**auth, "Range": f"bytes={len(weights)}-"}).status_code == 416

    # Errors map onto huggingface_hub's exception classes.
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo, "missing.txt")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(f"{USER}/no-such-repo", "README.md")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo, "notes/a.txt", revision="no-such-tag")
    with pytest.raises(RevisionNotFoundError):  # URL-encoded refs are one path segment and still a clean 404
        api.model_info(repo, revision="refs/convert/parquet")
    with pytest.raises(HfHubHTTPError) as anonymous:
        HfApi(token=False).create_repo(f"{USER}/anonymous")
    assert anonymous.value.response.status_code == 401

    # Tags and branches can go; the repo can go.
    api.delete_tag(repo, tag="v1")
    api.delete_branch(repo, branch="dev")
    assert hub.tags(repo) == {} and set(hub.branches(repo)) == {"main"}
    api.update_repo_settings(repo, private=True)
    assert hub.is_private(repo)
    api.delete_repo(repo)
    assert not hub.repo_exists(repo)
    with pytest.raises(RepositoryNotFoundError):
        api.repo_info(repo)
    api.delete_repo(repo, missing_ok=True)
    _assert_token_only_in_authorization(hub)


def test_injected_faults_answer_an_error_and_change_nothing(hub_endpoint):
    hub, api, repo = hub_endpoint, HfApi(), f"{USER}/faulty"
    api.create_repo(repo)
    head = api.repo_info(repo).sha
    hub.fail_requests("POST", r"/commit/", status=500, times=1)
    with pytest.raises(HfHubHTTPError) as failed:
        api.upload_file(path_or_fileobj=b"a\n", path_in_repo="a.txt", repo_id=repo)
    assert failed.value.response.status_code == 500 and hub.requests[-1].status == 500
    assert api.repo_info(repo).sha == head
    api.upload_file(path_or_fileobj=b"a\n", path_in_repo="a.txt", repo_id=repo)  # `times` ran out: served again
    assert hub.repo_files(repo)["a.txt"] == b"a\n"

    hub.fault = lambda method, path: 503 if "/tag/" in path else None  # any rule: (method, path) -> status
    with pytest.raises(HfHubHTTPError):
        api.create_tag(repo, tag="v1")
    hub.fault = None
    assert hub.tags(repo) == {}
    api.create_tag(repo, tag="v1")
    assert set(hub.tags(repo)) == {"v1"}
