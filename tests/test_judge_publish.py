"""`python -m judge publish` against the Hub stand-in: the adapter, its card and its evaluation as one tagged commit;
the card read back with ModelCard.load and checked against stats.json; the adapter loaded by revision from a base
model named by its Hub id; failed pushes, refusals, secrets and local paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from judge.__main__ import main
from judge.publish import card as model_card
from judge.records import GenerationRecord, write_jsonl
from standins.hub import TOKEN, USER
from tests.sft_helpers import reply_dataset_dict, tiny_overrides, write_versioned_dataset

BASE_HUB_ID = "replytune-tests/tiny-qwen3"
ANTHROPIC_KEY = "sk-ant-FAKEpublishTestKey0042"
TWEETS = [f"Day {i}: shipping a LoRA adapter for the first time, any tips?" for i in range(8)]


def _train(tiny_qwen3_dir, data, output, *extra) -> None:
    """The real recipe in process: two optimizer steps of the tiny Qwen3, the base named by its Hub id."""
    from recipes import sft_qlora

    args = tiny_overrides(tiny_qwen3_dir, data, output, max_steps=2, eval_steps=1, save_steps=2)
    args += ["--load_best_model_at_end", "false", "--base_model_hub_id", BASE_HUB_ID, *extra]
    assert sft_qlora.main(args) == 0


def _write_generations(folder: Path, adapter_spec: str, items: int = len(TWEETS), dataset: dict | None = None) -> Path:
    """generations.jsonl of base vs the adapter, and (with `dataset`, its identity) the generation_report.json that
    `judge generate` writes beside it, naming the dataset version the tweets came from."""
    rows = []
    for index, tweet in enumerate(TWEETS[:items]):
        for system, spec, reply in (
            ("base", f"base:{BASE_HUB_ID}", "Nice."),
            ("adapter", adapter_spec, f"Start with rank 16, {'really ' * index}and watch the eval loss!"),
        ):
            record = GenerationRecord(
                item_id=f"t{index}", tweet_text=tweet, system=system, reply=reply, system_spec=spec,
                dataset_revision="v1", completion_tokens=len(reply.split()),
            )  # fmt: skip
            rows.append(record.to_json())
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "generations.jsonl", rows)
    if dataset is not None:
        (folder / "generation_report.json").write_text(json.dumps({"dataset": {"identity": dataset}}))
    return folder / "generations.jsonl"


def _local_identity(data: Path) -> dict:
    from judge.provenance import dataset_identity

    return dataset_identity(str(data / "v1"), data / "v1", "v1")


def _plain_eval(folder: Path, adapter_spec: str, dataset: dict) -> Path:
    """An evaluation folder the quick way: generations (of `dataset`), plain score lines, the real `judge stats`."""
    _write_generations(folder, adapter_spec, dataset=dataset)
    lines = [
        {"item_id": f"t{index}", "system": system, "score": score}
        for index in range(len(TWEETS))
        for system, score in (("base", 4 + index % 2), ("adapter", 6 + index % 3))
    ]
    write_jsonl(folder / "verdicts.jsonl", lines)
    assert main(["stats", "--verdicts", str(folder / "verdicts.jsonl"), "--output", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def local_adapter(tmp_path_factory, tiny_qwen3_dir):
    """A recipe output folder trained on a local dataset, and its evaluation folder; tests copy before changing."""
    root = tmp_path_factory.mktemp("publish")
    write_versioned_dataset(root / "data", "v1", train=8, eval=2, test=2)
    _train(tiny_qwen3_dir, root / "data", root / "adapter")
    evaluation = _plain_eval(root / "eval", f"adapter:{root / 'adapter'}@local", _local_identity(root / "data"))
    return root / "adapter", evaluation


@pytest.fixture
def no_retry_wait(monkeypatch):
    monkeypatch.setattr("replytune.hub.PUSH_RETRY_DELAY_S", 0.0)


def _pushed(hub, repo: str, revision: str) -> dict[str, bytes]:
    return {name: data for name, data in hub.repo_files(repo, revision=revision).items() if name != ".gitattributes"}


@pytest.mark.slow
def test_publish_pushes_one_tagged_commit_whose_card_states_the_evaluation_and_whose_adapter_loads(
    hub_endpoint, tmp_path, tiny_qwen3_dir, monkeypatch
):
    """The user's path: a dataset version on the Hub, the recipe pushes its adapter as v1, the evaluation runs
    (generate, score with Claude, stats, validate), and publish pushes v2 with the card."""
    from huggingface_hub import HfApi, ModelCard, hf_hub_download
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from judge.score.backends import claude
    from recipes.generation import GenerationSettings, generate_replies
    from standins.anthropic_api import FakeAnthropic
    from standins.judge_answers import prefers_longer
    from tests.judge_helpers import write_dataset

    hub, api = hub_endpoint, HfApi()
    api.create_repo(BASE_HUB_ID)  # the base model, loadable by its Hub id like Qwen/Qwen3-8B
    api.upload_folder(repo_id=BASE_HUB_ID, folder_path=str(tiny_qwen3_dir))
    dataset_repo, model_repo = f"{USER}/reply-pairs", f"{USER}/tiny-reply-lora"
    reply_dataset_dict(train=8, eval=2, test=2).push_to_hub(dataset_repo, private=True)
    api.create_tag(dataset_repo, tag="v1", repo_type="dataset")
    output = tmp_path / "adapter"
    _train(
        tiny_qwen3_dir, dataset_repo, output, "--dataset_revision", "v1", "--push_to_hub", "true",
        "--hub_model_id", model_repo, "--hub_tag", "v1", "--save_strategy", "no",
    )  # fmt: skip

    # the evaluation, through the real commands (Claude answered by the stand-in: it prefers longer replies)
    evaluation = tmp_path / "eval"
    from huggingface_hub import snapshot_download

    from judge.provenance import dataset_identity

    snapshot = Path(snapshot_download(dataset_repo, repo_type="dataset", revision="v1"))
    identity = dataset_identity(f"{dataset_repo}@v1", snapshot, "v1", dataset_repo)
    _write_generations(evaluation, f"adapter:{model_repo}@v1", dataset=identity)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    fake_claude = FakeAnthropic(policy=prefers_longer, api_key=ANTHROPIC_KEY)
    monkeypatch.setattr(claude, "http_client_factory", fake_claude.http_client)
    cache = ["--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    score = ["score", "--generations", str(evaluation / "generations.jsonl"), "--judge", "claude"]
    assert main([*score, "--output", str(evaluation), *cache]) == 0
    write_dataset(tmp_path / "threads" / "v1", {"test": 3})
    validate = ["validate", "--dataset", str(tmp_path / "threads" / "v1"), "--judge", "claude"]
    assert main([*validate, "--output", str(evaluation / "validity"), *cache]) == 0
    assert main(["stats", "--verdicts", str(evaluation / "verdicts.jsonl"), "--output", str(evaluation)]) == 0

    assert main(["publish", "--adapter", str(output), "--eval", str(evaluation), "--repo", model_repo]) == 0

    # ONE new commit, tagged with the next free version, private
    commits = hub.commits(model_repo)
    assert hub.tags(model_repo) == {"v1": commits[1].oid, "v2": commits[0].oid} and hub.is_private(model_repo)
    pushed = _pushed(hub, model_repo, "v2")
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "resolved_config.yaml"} <= set(
        pushed
    )
    assert {
        "README.md",
        "training_curves.png",
        "trainer_state.json",
        "eval/stats.json",
        "eval/score_report.json",
    } <= set(pushed)
    assert {"eval/win_tie_loss.png", "eval/validity/validity.json", "eval/validity/validity.png"} <= set(pushed)
    assert not any(name.endswith(".jsonl") for name in pushed)  # generations and verdicts quote tweets
    assert pushed["training_curves.png"].startswith(b"\x89PNG") and len(pushed["training_curves.png"]) > 10_000

    # the card, read back: metadata, and the model-index numbers are stats.json's
    stats = json.loads((evaluation / "stats.json").read_text())
    card = ModelCard.load(hf_hub_download(model_repo, "README.md", revision="v2"))
    assert card.data.base_model == BASE_HUB_ID and card.data.library_name == "peft"
    assert card.data.datasets == [dataset_repo] and card.data.license == "apache-2.0"
    assert {"replytune", "lora", "twitter", "replies"} <= set(card.data.tags)
    provenance = card.data.to_dict()["replytune"]
    assert (provenance["dataset_revision"], provenance["adapter_revision"]) == ("v1", "v2")
    assert provenance["criteria_met"] is stats["verdict"]["criteria_met"] and provenance["judge"] == "claude"
    results = {result.metric_type: result for result in card.data.eval_results}
    assert results["win_rate"].metric_value == stats["pairwise"]["win_rate"]
    assert results["mean_score_difference"].metric_value == stats["mean_difference"]
    assert results["d_z"].metric_value == stats["effect_size"]["d_z"]
    assert results["p_value"].metric_value == stats["verdict"]["criteria"]["significance"]["value"]
    assert {result.dataset_revision for result in results.values()} == {"v1"}
    assert {result.dataset_type for result in results.values()} == {dataset_repo}

    text = card.text
    # validated on another dataset (the threads below), so not valid for these verdicts: the card says so, and why
    assert stats["verdict"]["judge_validity"]["failed"] == "another dataset"
    assert "**Verdict: not established: the judge is not valid here** (another dataset: " in text
    assert f"| evaluated dataset version | held-out tweets of {dataset_repo}@v1 (commit" in text
    for criterion in stats["verdict"]["criteria"].values():  # every criterion, met or not, with its number
        assert f"| {criterion['description']} | " in text
    assert "does NOT beat the baseline of picking the longer reply" in text  # validity.json says so for this judge
    assert (
        "| claude (these results) |" in text
        and "an LLM judge (Claude, through the Anthropic API), `claude-sonnet-4-6`" in text
    )
    assert "![training curves](training_curves.png)" in text and "![win_tie_loss](eval/win_tie_loss.png)" in text
    assert "lora_r: 16" in text and "dataset_revision: v1" in text  # the exact training config
    assert "A CPU demo run" in text and "## Intended use" in text and "## Limitations" in text
    assert f'PeftModel.from_pretrained(base, "{model_repo}", revision="v2")' in text
    assert f"generations.jsonl names this adapter: `adapter:{model_repo}@v1`: the Hub's" in text

    # nothing pushed holds a secret or this machine's paths
    for name, data in pushed.items():
        for forbidden in (TOKEN, ANTHROPIC_KEY, str(tmp_path), str(tiny_qwen3_dir)):
            assert forbidden.encode() not in data, (name, forbidden)

    # a fresh load by revision, from the base model's Hub id, writes a reply
    hub_base = AutoModelForCausalLM.from_pretrained(BASE_HUB_ID)
    model = PeftModel.from_pretrained(hub_base, model_repo, revision="v2").eval()
    tokenizer = AutoTokenizer.from_pretrained(model_repo, revision="v2")
    local = load_file(output / "adapter_model.safetensors")
    loaded = {name: tensor for name, tensor in model.state_dict().items() if "lora_" in name}
    assert len(loaded) == len(local) and all(
        any(tensor.equal(other) for other in local.values()) for tensor in loaded.values()
    )
    prompt = reply_dataset_dict(test=1)["test"][0]["prompt"]
    (reply,) = generate_replies(
        model, tokenizer, [prompt], GenerationSettings(max_new_tokens=8, do_sample=False, batch_size=1)
    )
    assert reply.completion_tokens > 0 and isinstance(reply.text, str)


def test_a_failed_push_leaves_no_tag_and_no_revision_and_the_same_command_finishes_it(
    hub_endpoint, local_adapter, no_retry_wait, capsys
):
    hub, repo = hub_endpoint, f"{USER}/replies"
    adapter, evaluation = local_adapter
    command = ["publish", "--adapter", str(adapter), "--eval", str(evaluation), "--repo", repo, "--revision", "v1"]
    hub.fail_requests("POST", r"/commit/main$", status=500, times=None)
    assert main(command) == 1
    assert "nothing was committed" in capsys.readouterr().err
    assert [commit.title for commit in hub.commits(repo)] == ["initial commit"] and hub.tags(repo) == {}

    hub.fail_requests("POST", r"/tag/", status=503, times=None)  # the commit lands, the tag does not
    assert main(command) == 1
    assert "Run the same push again" in capsys.readouterr().err
    head = hub.commits(repo)[0]
    assert hub.tags(repo) == {} and "README.md" in hub.repo_files(repo, revision=head.oid)  # whole, untagged

    hub.fault = None
    assert main(command) == 0
    assert hub.tags(repo) == {"v1": head.oid} and len(hub.commits(repo)) == 2  # tagged, nothing pushed twice


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / folder.name))


def test_publish_refuses_before_any_upload_naming_what_is_wrong(hub_endpoint, local_adapter, tmp_path, capsys):
    from huggingface_hub import HfApi

    hub, repo = hub_endpoint, f"{USER}/replies"
    adapter, evaluation = local_adapter

    def refused(adapter_dir, eval_dir, *extra) -> str:
        before = len(hub.requests)
        command = ["publish", "--adapter", str(adapter_dir), "--eval", str(eval_dir), "--repo", repo, *extra]
        assert main(command) == 2
        assert not [r for r in hub.requests[before:] if r.method in ("POST", "PUT", "DELETE")]
        return capsys.readouterr().err

    empty = tmp_path / "empty-eval"
    empty.mkdir()
    assert "no stats.json; run `python -m judge stats" in refused(adapter, empty)

    # an evaluation of another adapter: its generations name a folder whose weights differ
    other = _copy(adapter, tmp_path / "other")
    (other / "adapter_model.safetensors").write_bytes(b"\x00" + (other / "adapter_model.safetensors").read_bytes())
    foreign = _plain_eval(
        tmp_path / "foreign-eval", f"adapter:{other}@local", _local_identity(adapter.parent / "data")
    )
    assert "the evaluation is of another adapter" in refused(adapter, foreign)

    # stats.json beside a generations file it was not computed from
    stale = _copy(evaluation, tmp_path / "stale")
    _write_generations(stale, f"adapter:{adapter}@local", items=5, dataset=_local_identity(adapter.parent / "data"))
    assert "is not the generations file stats.json was computed from" in refused(adapter, stale)

    broken = _copy(evaluation, tmp_path / "broken")
    stats = json.loads((broken / "stats.json").read_text())
    del stats["verdict"]["criteria"]
    (broken / "stats.json").write_text(json.dumps(stats))
    assert "missing or malformed verdict.criteria" in refused(adapter, broken)

    (broken / "stats.json").write_text((evaluation / "stats.json").read_text())
    (broken / "validity.json").write_text("[1, 2]")  # written after stats: the verdict did not read it
    assert "validity.json is there, but stats.json's verdict did not read it" in refused(adapter, broken)
    (broken / "validity.json").unlink()
    (broken / "generation_report.json").write_text('{"systems": ')  # torn: the card would silently lose it
    assert "generation_report.json: not readable JSON" in refused(adapter, broken)
    assert main(["stats", "--verdicts", str(broken / "verdicts.jsonl"), "--output", str(broken)]) == 2  # nor stats
    other = {"dataset": {"identity": _local_identity(tmp_path / "elsewhere")}}
    (broken / "generation_report.json").write_text(json.dumps(other))  # rewritten since stats read it
    assert "names another dataset version than the one stats.json's verdict" in refused(adapter, broken)

    local_base = _copy(adapter, tmp_path / "local-base")
    config = json.loads((local_base / "adapter_config.json").read_text())
    (local_base / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "/models/qwen"}))
    assert "base_model_name_or_path '/models/qwen' is not a Hub model id" in refused(local_base, evaluation)

    HfApi().create_repo(repo, private=True)
    HfApi().create_tag(repo, tag="v1")
    assert "tag 'v1' already exists" in refused(adapter, evaluation, "--revision", "v1")
    assert "--revision 'main'" in refused(adapter, evaluation, "--revision", "main")
    HfApi().create_repo(f"{USER}/public-replies", private=False)
    command = ["publish", "--adapter", str(adapter), "--eval", str(evaluation), "--repo", f"{USER}/public-replies"]
    assert main(command) == 2 and "exists and is public" in capsys.readouterr().err
    assert len(hub.commits(repo)) == 1 and len(hub.commits(f"{USER}/public-replies")) == 1


def test_secrets_never_reach_the_card_or_anything_pushed(hub_endpoint, local_adapter, tmp_path, monkeypatch, capsys):
    hub, repo = hub_endpoint, f"{USER}/replies"
    adapter, evaluation = local_adapter
    evaluation = _copy(evaluation, tmp_path / "eval")
    monkeypatch.setenv("WANDB_API_KEY", "wandb-FAKE-key-0123456789")
    report = {"judge": "claude", "model": "m", "note": "called with wandb-FAKE-key-0123456789 and " + TOKEN}
    (evaluation / "score_report.json").write_text(json.dumps(report))  # a report that leaked both: redacted
    command = ["publish", "--adapter", str(adapter), "--eval", str(evaluation), "--repo", repo]
    assert main(command) == 0
    pushed = _pushed(hub, repo, "v1")
    assert b"***" in pushed["eval/score_report.json"]
    for name, data in pushed.items():
        assert TOKEN.encode() not in data and b"wandb-FAKE-key" not in data, name
    assert TOKEN not in capsys.readouterr().out

    # a secret inside a file pushed byte for byte cannot be redacted: refused, nothing uploaded
    leaky = _copy(adapter, tmp_path / "leaky")
    config = json.loads((leaky / "adapter_config.json").read_text())
    (leaky / "adapter_config.json").write_text(json.dumps({**config, "note": TOKEN}))
    before = len(hub.commits(repo))
    assert main(["publish", "--adapter", str(leaky), "--eval", str(evaluation), "--repo", repo]) == 2
    assert "a secret value appears in adapter_config.json" in capsys.readouterr().err
    assert len(hub.commits(repo)) == before and set(hub.tags(repo)) == {"v1"}


# generation_report.json as `judge generate` writes it (issue 10, being built alongside): the parts the card reads
GENERATION_REPORT = {
    "format": 1,
    "items": 8,
    "systems": {
        "base": {
            "spec": "base",
            "kind": "base",
            "replies": 8,
            "flags": {"truncated": 0, "empty": 0, "empty_items": []},
        },
        "adapter": {
            "spec": "adapter:outputs/adapter",
            "kind": "adapter",
            "replies": 8,
            "flags": {"truncated": 3, "empty": 0, "truncated_items": ["t1", "t2", "t5"], "empty_items": []},
            "adapter": {"source": "/home/alice/outputs/adapter", "weights_sha256": "0" * 64, "revision": None},
        },
    },
    "sanity_metrics": {
        "note": "Sanity checks only: they catch broken systems, not better ones.",
        "systems": {"base": {"distinct_2": 0.91, "length_words": {"mean": 4.0}}, "adapter": {"distinct_2": 0.42}},
    },
    "forgetting": {
        "text_file": "/home/alice/replytune/judge/forgetting/general_text.txt",
        "max_increase_pct": 10.0,
        "systems": {
            "base": {"perplexity": 21.5, "change_vs_base_pct": None, "flagged": False},
            "adapter": {"perplexity": 25.1, "change_vs_base_pct": 16.74, "flagged": True},
        },
    },
    "config": {"decoding": {"max_new_tokens": 64}},
}


def test_the_card_reads_a_generation_report_of_any_shape(local_adapter):
    stats = json.loads((local_adapter[1] / "stats.json").read_text())
    assert "No generation_report.json" in model_card.generation_section(None, stats, [])
    for odd in ({}, {"systems": "x"}, {"base": [1, 2]}, {"forgetting": 3}, {"warnings": [1, "two"]}, {"systems": {}}):
        assert isinstance(model_card.generation_section(odd, stats, []), str)
        assert model_card.evaluation_warnings(stats, odd) == []

    text = model_card.generation_section(GENERATION_REPORT, stats, ["eval/reply_lengths.png"])
    assert "| per system | base | adapter |" in text and "| cut off at max_new_tokens (truncated) | 0 | 3 |" in text
    assert "_Sanity checks only: they catch broken systems, not better ones._" in text
    assert "| distinct-2 (share of distinct word bigrams) | 0.91 | 0.42 |" in text
    assert "| mean length, characters |" not in text  # neither system has it: no row of n/a
    assert "**Forgetting check**: perplexity on general text (general_text.txt); an adapter more than 10%" in text
    assert (
        "| system | perplexity | change vs the base | flagged |" in text
        and "| adapter | 25.1 | 16.74% | **yes** |" in text
    )
    assert "![reply_lengths](eval/reply_lengths.png)" in text
    assert "0" * 64 not in text and "max_new_tokens |" not in text and "t5" not in text  # hashes, config, id lists
    assert "replies per second" not in text  # not measured in this report: no empty table
    timed = {**GENERATION_REPORT, "run": {"model_load": "CPU (float32)", "replies_per_second": {"base": 1.0}}}
    assert "Generation speed (replies per second, CPU (float32)): base 1." in model_card.generation_section(
        timed, stats, []
    )
    # the report `judge generate` wrote for the CPU demo: a `base` key beside `systems` is no column
    demo_forgetting = {**GENERATION_REPORT["forgetting"], "base": "base"}
    assert "| systems |" not in model_card.generation_section(
        {**GENERATION_REPORT, "forgetting": demo_forgetting}, stats, []
    )
    assert model_card.evaluation_warnings(stats, GENERATION_REPORT) == [
        "3 of 8 of adapter's replies hit max_new_tokens without ending the turn.",
        "the forgetting check flagged adapter: its perplexity on general text is 16.74% above the base model's "
        "(limit 10%).",
    ]


def test_a_recorded_adapter_hash_that_differs_refuses_and_the_next_version_is_free(hub_endpoint, local_adapter):
    from huggingface_hub import HfApi

    from judge.publish import cli as publish
    from judge.publish.inputs import check_evaluated_adapter

    adapter = publish.read_adapter_run(local_adapter[0])
    evaluation = publish.read_evaluation(local_adapter[1])
    evaluation.generation_report = GENERATION_REPORT  # it records other weights for the system under test
    with pytest.raises(publish.PublishRefused, match="records adapter weights"):
        check_evaluated_adapter(adapter, evaluation, None)
    other_system = {"systems": {"adapter-v0": {"adapter": {"weights_sha256": "1" * 64}}}, "adapter_sha256": None}
    evaluation.generation_report = {**other_system, "systems": {**other_system["systems"], "adapter": {}}}
    assert "not checked" not in check_evaluated_adapter(adapter, evaluation, None)  # from generations.jsonl
    evaluation.generation_report = {"systems": {"adapter": {"adapter": {"weights_sha256": adapter.weights_sha256}}}}
    assert "records this adapter's weights" in check_evaluated_adapter(adapter, evaluation, None)

    repo = f"{USER}/versions"
    assert publish.next_free_revision(repo, None) == "v1"
    HfApi().create_repo(repo)
    for tag in ("v1", "v3", "final", "v2-rc"):
        HfApi().create_tag(repo, tag=tag)
    assert publish.next_free_revision(repo, None) == "v4"


def test_the_publish_config_is_checked_and_its_texts_default_to_the_shipped_ones(tmp_path):
    from judge.config import ConfigError, load_judge_config

    path = tmp_path / "config.yaml"
    path.write_text("publish:\n  licence: mit\n")
    with pytest.raises(ConfigError, match="licence"):
        load_judge_config(path)
    path.write_text("publish:\n  intended_use: '  '\n")
    with pytest.raises(ConfigError, match="intended_use and limitations must not be empty"):
        load_judge_config(path)
    path.write_text("publish:\n  private: false\n  tags: [my-replies]\n")
    config = load_judge_config(path).publish
    shipped = load_judge_config().publish
    assert (config.private, config.tags, config.license) == (False, ["my-replies"], "apache-2.0")
    assert config.intended_use == shipped.intended_use and "Not intended for" in config.intended_use


def test_publish_refuses_what_it_cannot_tie_to_this_adapter_and_this_dataset_version(
    hub_endpoint, local_adapter, tmp_path, capsys
):
    """Provenance that cannot be faked by accident: a foreign stats.json, verdicts of other replies, generations that
    name no adapter, another dataset version, an adapter folder without plan.json: each refused, nothing uploaded."""
    hub, repo = hub_endpoint, f"{USER}/replies"
    adapter, evaluation = local_adapter

    def refused(adapter_dir, eval_dir) -> str:
        command = ["publish", "--adapter", str(adapter_dir), "--eval", str(eval_dir), "--repo", repo]
        assert main(command) == 2
        assert not [r for r in hub.requests if r.method in ("POST", "PUT", "DELETE")]
        return capsys.readouterr().err

    gone = _copy(evaluation, tmp_path / "gone")  # a stats.json whose verdicts and generations are gone
    assert main(["stats", "--verdicts", str(gone / "verdicts.jsonl"), "--output", str(gone)]) == 0
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "stats.json").write_text((gone / "stats.json").read_text())
    shutil.rmtree(gone)
    error = refused(adapter, alone)
    assert "the verdicts it was computed from (" in error and "are not there" in error

    other_replies = _copy(evaluation, tmp_path / "other-replies")  # verdicts (and stats) of other items
    lines = [json.loads(line) for line in (other_replies / "verdicts.jsonl").read_text().splitlines()]
    (other_replies / "verdicts.jsonl").write_text(
        "".join(json.dumps({**line, "item_id": "x" + line["item_id"]}) + "\n" for line in lines)
    )
    assert main(["stats", "--verdicts", str(other_replies / "verdicts.jsonl"), "--output", str(other_replies)]) == 0
    assert "line 1: item 'xt0' is not in generations.jsonl" in refused(adapter, other_replies)

    unnamed = tmp_path / "unnamed"  # generations that name no adapter: "not checked" is not a provenance
    _write_generations(unnamed, "", dataset=_local_identity(adapter.parent / "data"))
    (unnamed / "verdicts.jsonl").write_text((evaluation / "verdicts.jsonl").read_text())
    assert main(["stats", "--verdicts", str(unnamed / "verdicts.jsonl"), "--output", str(unnamed)]) == 0
    error = refused(adapter, unnamed)
    assert "not checked (no system_spec for `adapter`)" in error and "a card must not state numbers" in error

    other_version = tmp_path / "other-version"  # held-out tweets of another dataset version
    write_versioned_dataset(tmp_path / "data2", "v1", train=8, eval=2, test=3)
    _write_generations(other_version, f"adapter:{adapter}@local", dataset=_local_identity(tmp_path / "data2"))
    (other_version / "verdicts.jsonl").write_text((evaluation / "verdicts.jsonl").read_text())
    assert main(["stats", "--verdicts", str(other_version / "verdicts.jsonl"), "--output", str(other_version)]) == 0
    error = refused(adapter, other_version)
    assert "its tweets come from" in error and "data2" in error and "was trained on" in error

    no_report = _copy(evaluation, tmp_path / "no-report")
    (no_report / "generation_report.json").unlink()
    assert main(["stats", "--verdicts", str(no_report / "verdicts.jsonl"), "--output", str(no_report)]) == 0
    assert "does not record the dataset version the tweets came from" in refused(adapter, no_report)

    no_plan = _copy(adapter, tmp_path / "no-plan")
    (no_plan / "plan.json").unlink()
    assert "no-plan/adapter: plan.json is missing" in refused(no_plan, evaluation)


def test_the_card_states_each_tie_and_a_verdict_that_is_not_established(hub_endpoint, local_adapter):
    from huggingface_hub import ModelCard, hf_hub_download

    adapter, evaluation = local_adapter
    repo = f"{USER}/tied"
    assert main(["publish", "--adapter", str(adapter), "--eval", str(evaluation), "--repo", repo]) == 0
    pushed = Path(hf_hub_download(repo, "README.md", revision="v1"))
    card = ModelCard.load(pushed)
    assert card.data.to_dict()["replytune"]["criteria_met"] is False
    assert card.data.to_dict()["replytune"]["judge_validity_failed"] == "no validity.json"
    assert (evaluation / "model_card.md").read_bytes() == pushed.read_bytes()  # the card as pushed, kept locally
    assert json.loads((evaluation / "published.json").read_text())["card"] == "model_card.md"
    text = card.text
    assert "**Verdict: not established: the judge is not valid here**" in text
    assert "| verdicts of these replies | 16 verdict line(s) name items of generations.jsonl" in text
    assert "| evaluated dataset version | held-out tweets of " in text
    assert "| evaluation of this adapter | generations.jsonl names this adapter" in text


def test_every_sentence_of_the_card_about_the_run_comes_from_what_the_run_recorded(local_adapter, tmp_path):
    """The CPU demo's case: the engagement scorer (not an LLM) judged centred scores; the data is the synthetic
    sample; the base was a GGUF file, dequantized; engagement_fit.json holds a held-out fit on synthetic pairs. The
    card says each of these as recorded, and none of what it used to assume."""
    import copy

    from judge.config import PublishConfig
    from judge.provenance import SYNTHETIC_SAMPLES
    from judge.publish import cli as publish
    from replytune.files import sha256_of

    adapter = publish.read_adapter_run(local_adapter[0])
    evaluation = publish.read_evaluation(local_adapter[1])
    adapter.config["gguf_file"] = "SmolLM2-135M-Instruct.Q4_1.gguf"
    adapter.metadata["load_path"] = "cpu"
    evidence = f"report.json's source demo_tweets.jsonl is data_prep/sample/demo_tweets.jsonl (sha256 {'a' * 12})"
    synthetic = {"name": "u/pairs@v2", "repo": "u/pairs", "version": "v2", "commit": "c" * 40, "data_sha256": "d",
                 "synthetic": True, "synthetic_evidence": evidence, "sources": ["demo_tweets.jsonl"]}  # fmt: skip
    assert sha256_of(SYNTHETIC_SAMPLES[0])  # the sample the evidence names is the one this repository ships
    evaluation.generation_report = {"dataset": {"identity": synthetic}}
    evaluation.engagement_fit = {
        "dataset": "u/pairs@v1",
        "dataset_identity": {**synthetic, "name": "u/pairs@v1", "version": "v1"},
        "held_out": {"test": {"pairs": 346, "pairwise_accuracy": 0.8526, "spearman_rho": 0.7203}},
    }
    evaluation.score_report = {"judge": "engagement", "model": "ridge[all-MiniLM-L6-v2]@710c56d59b11", "mode": "both"}
    stats = copy.deepcopy(evaluation.stats)
    stats["judge"] = "engagement"
    stats["means"] = {"base": -0.09, "adapter": 0.41}
    stats["score_scale"] = {"scale": "centred", "why": "the engagement judge's scores are centred"}
    stats["relative_improvement_pct"] = None
    stats["relative_improvement"] = {"of": "win rate", "pct": 221.9, "why": "centred"}
    evaluation.stats = stats
    files = publish.collect_files(adapter, evaluation, tmp_path)
    card = model_card.build_card(adapter, evaluation, "u/replies", "v1", PublishConfig(), {}, files)

    for assumed in ("LLM judge", "public tweets", "without quantization", "not validated against real likes"):
        assert assumed not in card, assumed
    assert "judged by the engagement scorer (a ridge regression on sentence embeddings" in card
    assert "**Synthetic data.** The adapter was trained and evaluated on u/pairs@v2 (commit cccccccccccc)" in card
    assert "dequantized from the GGUF file SmolLM2-135M-Instruct.Q4_1.gguf" in card
    assert (
        "its held-out fit (engagement_fit.json): test split: 0.8526 of 346 reply pairs ranked as their likes" in card
    )
    assert "Those tweets are synthetic (report.json's source demo_tweets.jsonl" in card
    assert "| mean predicted engagement (centred: 0 is a conversation's average reply" in card
    assert "relative improvement of the win rate over base's" in card and "of the mean score" not in card
    assert "| replies per second |" not in card
    metrics = {
        result.metric_type for result in model_card.eval_results(stats, evaluation, adapter, "u/pairs", "u/r", "v1")
    }
    assert "relative_improvement_of_win_rate_pct" in metrics and "relative_improvement_pct" not in metrics
