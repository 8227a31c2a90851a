"""`python -m judge publish` of a DPO adapter (issue 22), against the Hub stand-in: one evaluation folder judges three
systems (base, the SFT adapter, the DPO adapter trained on it) with several comparisons in its stats.json; publish
leads each adapter's card with its comparison against the base, and a DPO adapter's card adds the judged comparison
against the SFT adapter it started from, the DPO metrics of its run and the timing-confound figure of the preference
data it trained on (whose report.json it pushes); an adapter no comparison has as its candidate is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from judge.__main__ import main
from judge.publish import card as model_card
from judge.records import GenerationRecord, write_jsonl
from replytune.files import sha256_of
from standins.hub import TOKEN, USER
from tests.curation_versions import CONFIG, write_version
from tests.test_data_prep_preferences import random_rows
from tests.test_dpo_recipe import tiny_dpo_args
from tests.test_judge_publish import BASE_HUB_ID, _local_identity, _train

COMPARISONS = (("dpo", "base"), ("dpo", "sft"), ("sft", "base"))
ITEMS = 8
SCORES = {"base": lambda i: 4 + i % 2, "sft": lambda i: 5 + i % 3, "dpo": lambda i: 6 + i % 2}


def _three_system_generations(folder: Path, sft: Path, dpo: Path, data: Path) -> None:
    """generations.jsonl of base, sft and dpo, and the generation_report.json `judge generate` writes beside it: the
    dataset version the tweets came from and, per adapter system, the adapter's weights (sha256)."""
    specs = {"base": "base", "sft": f"adapter:{sft}", "dpo": f"adapter:{dpo}"}
    rows = [
        GenerationRecord(
            item_id=f"t{index}",
            tweet_text=f"Day {index}: my first DPO run, any advice?",
            system=system,
            reply=f"{system} reply {index}",
            system_spec=spec,
            dataset_revision="v1",
            completion_tokens=3,
        ).to_json()  # fmt: skip
        for index in range(ITEMS)
        for system, spec in specs.items()
    ]
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "generations.jsonl", rows)
    systems = {"base": {"spec": "base", "kind": "base", "replies": ITEMS}}
    for name, adapter in (("sft", sft), ("dpo", dpo)):
        weights = sha256_of(adapter / "adapter_model.safetensors")
        systems[name] = {
            "spec": specs[name],
            "kind": "adapter",
            "replies": ITEMS,
            "adapter": {"weights_sha256": weights},
        }
    report = {"dataset": {"identity": _local_identity(data)}, "systems": systems}
    (folder / "generation_report.json").write_text(json.dumps(report))


def _stats_with_comparisons(folder: Path, comparisons=COMPARISONS) -> dict:
    """`judge stats --compare A:B ...` over the verdicts in `folder`: stats.json's top level is the first comparison,
    `comparisons` lists each in order, later ones' plots in a subfolder A-vs-B/."""
    compare = [part for candidate, baseline in comparisons for part in ("--compare", f"{candidate}:{baseline}")]
    assert main(["stats", "--verdicts", str(folder / "verdicts.jsonl"), "--output", str(folder), *compare]) == 0
    return json.loads((folder / "stats.json").read_text())


@pytest.fixture(scope="module")
def three_systems(tmp_path_factory, tiny_qwen3_dir):
    """A reply dataset version, an SFT adapter trained on it, preference pairs made from it by `data_prep
    preferences`, a DPO adapter trained on those from the SFT adapter, and the evaluation of base, sft and dpo on its
    held-out tweets. Tests copy before changing."""
    from data_prep import preferences
    from recipes import dpo_qlora

    root = tmp_path_factory.mktemp("publish_dpo")
    write_version(root / "data" / "v1", random_rows(8, tweets=24))  # 50 / 25 / 52 replies
    _train(tiny_qwen3_dir, root / "data", root / "sft")
    preferences.build_preferences(str(root / "data" / "v1"), root / "prefs", CONFIG)  # 23 / 12 / 23 pairs
    args = tiny_dpo_args(root / "sft", root / "prefs", root / "dpo", max_steps=2, eval_steps=1, save_steps=1)
    assert dpo_qlora.main([*args, "--learning_rate", "2e-2", "--early_stopping_patience", "0"]) == 0

    evaluation = root / "eval"
    _three_system_generations(evaluation, root / "sft", root / "dpo", root / "data")
    lines = [
        {"item_id": f"t{index}", "system": system, "score": score(index)}
        for index in range(ITEMS)
        for system, score in SCORES.items()
    ]
    write_jsonl(evaluation / "verdicts.jsonl", lines)
    stats = _stats_with_comparisons(evaluation)
    return {"root": root, "sft": root / "sft", "dpo": root / "dpo", "eval": evaluation, "stats": stats}


def _pushed(hub, repo: str, revision: str = "v1") -> dict[str, bytes]:
    return {name: data for name, data in hub.repo_files(repo, revision=revision).items() if name != ".gitattributes"}


def _publish(adapter: Path, evaluation: Path, repo: str) -> int:
    return main(["publish", "--adapter", str(adapter), "--eval", str(evaluation), "--repo", repo])


def _row(name: str, value: str) -> str:
    return f"| {name} | {value} |"


def test_a_dpo_adapter_is_published_with_its_sft_comparison_dpo_metrics_and_preference_data(
    hub_endpoint, three_systems
):
    from huggingface_hub import ModelCard, hf_hub_download

    hub, repo = hub_endpoint, f"{USER}/tiny-reply-dpo"
    dpo, evaluation = three_systems["dpo"], three_systems["eval"]
    assert _publish(dpo, evaluation, repo) == 0
    pushed = _pushed(hub, repo)
    against_base, against_sft, _ = three_systems["stats"]["comparisons"]

    # the preference data's report, and the plots of the comparison against the SFT adapter (a subfolder)
    report_path = three_systems["root"] / "prefs" / "v1" / "report.json"
    report = json.loads(report_path.read_text())
    assert (
        json.loads(pushed["preferences/report.json"]) == report and pushed["preferences/funnel.png"][:4] == b"\x89PNG"
    )
    assert {"eval/stats.json", "eval/win_tie_loss.png", "eval/dpo-vs-sft/win_tie_loss.png"} <= set(pushed)
    assert pushed["adapter_model.safetensors"] == (dpo / "adapter_model.safetensors").read_bytes()

    card = ModelCard.load(hf_hub_download(repo, "README.md", revision="v1"))
    assert "dpo" in card.data.tags and "sft" not in card.data.tags
    recorded = card.data.to_dict()["replytune"]
    assert (recorded["method"], recorded["candidate"], recorded["baseline"]) == ("dpo", "dpo", "base")
    assert recorded["against_sft"] == {
        "baseline": "sft",
        "win_rate": against_sft["pairwise"]["win_rate"],
        "criteria_met": against_sft["verdict"]["criteria_met"],
    }
    shares = report["earlier_reply_share"]
    assert recorded["earlier_reply_share_before_exposure_control"] == shares["margin_passing"]["share"]
    assert recorded["earlier_reply_share_after_exposure_control"] == shares["within_exposure_window"]["share"]
    results = {result.metric_type: result for result in card.data.eval_results}
    assert results["win_rate"].metric_value == against_base["pairwise"]["win_rate"]
    assert results["win_rate_vs_sft"].metric_value == against_sft["pairwise"]["win_rate"]
    assert results["win_rate_vs_sft"].metric_name == "win rate vs sft (ties count half)"
    assert results["p_value_vs_sft"].metric_value == against_sft["verdict"]["criteria"]["significance"]["value"]

    text = card.text
    # the headline: dpo against the base model
    assert f"**dpo** (this adapter) against **base** (the base model) on {against_base['n']} held-out tweets" in text
    assert "| the card's headline comparison | dpo vs base (the base model), comparison 1 of 3 in stats.json" in text
    assert "| evaluated dataset version | held-out tweets of " in text and "DPO preference pairs (prefs/v1)" in text
    assert f"| preference data (DPO) | report.json of prefs/v1 (sha256 {sha256_of(report_path)[:12]})" in text

    # (a) the judged comparison against the SFT adapter it started from
    section = text.split("## Against the SFT adapter")[1].split("\n## ")[0]
    pairwise, ci = against_sft["pairwise"], against_sft["bootstrap_ci"]
    assert "**dpo** (this adapter) against **sft**, the SFT adapter its DPO run started from" in section
    assert (
        _row(
            "wins / ties / losses of dpo (score differences)",
            f"{pairwise['wins']} / {pairwise['ties']} / {pairwise['losses']}",
        )
        in section
    )
    win_rate = f"{model_card._num(pairwise['win_rate'])} {model_card._interval(ci['win_rate'])}"
    assert _row("win rate (a tie counts half), 95% bootstrap CI", win_rate) in section
    significance = against_sft["verdict"]["criteria"]["significance"]
    holm = model_card._num(significance["value"])
    across = against_sft["holm"]["across"]  # Holm's correction over every comparison's tests
    assert across["comparisons"] == ["dpo:base", "dpo:sft", "sft:base"]
    label = f"Holm-adjusted p (over the {across['tests']} tests of 3 comparisons), the largest of " + ", ".join(
        significance["tests"]
    )
    assert _row(label, holm) in section
    summary = against_sft["verdict"]["summary"]  # it names the dataset's folder, which the card shortens
    assert "| verdict | not established: the judge is not valid here (no validity.json: " in section
    assert summary.split("; the statistical criteria alone: ")[1] + " |" in section
    assert "![win_tie_loss](eval/dpo-vs-sft/win_tie_loss.png)" in section

    # (b) the DPO metrics of the run, first -> best, as trainer_state.json logged them
    section = text.split("## DPO training")[1].split("\n## ")[0]
    state = json.loads((dpo / "trainer_state.json").read_text())
    evaluations = [entry for entry in state["log_history"] if "eval_loss" in entry]
    assert [entry["step"] for entry in evaluations] == [1, 2]
    for key, best_of in (("eval_rewards/accuracies", max), ("eval_rewards/margins", max), ("eval_loss", min)):
        first, best = evaluations[0], best_of(evaluations, key=lambda entry: entry[key])
        best_value = f"{model_card._num(best[key])} (step {best['step']})"
        expected = f"(`{key}`) | {model_card._num(first[key])} (step 1) | {best_value} |"
        assert expected in section, key
    plan = json.loads((dpo / "plan.json").read_text())
    assert _row("beta", "0.1") in section and _row("loss", "sigmoid") in section
    assert _row("preference pairs, train / eval", f"{plan['train_examples']} / {plan['eval_examples']}") in section
    assert (plan["train_examples"], plan["eval_examples"]) == (report["splits"]["train"], report["splits"]["eval"])
    assert _row("optimizer steps, trained of planned", "2 of 2") in section

    # (c) the preference data's confound figure, before and after the exposure control
    section = text.split("## Preference data and the timing confound")[1].split("\n## ")[0]
    for stage in ("margin_passing", "within_exposure_window"):
        facts = shares[stage]
        low, high = facts["ci95"]
        figure = f"{100 * facts['share']:.1f}% (95% CI {100 * low:.1f}-{100 * high:.1f}%, resampling tweets) of "
        assert figure + f"{facts['comparable']} pairs with different delays" in section, stage
    before = section.index(f"{100 * shares['margin_passing']['share']:.1f}% (95% CI")
    assert before < section.index("before the exposure control") < section.index("after it")
    splits = ", ".join(f"{split} {count}" for split, count in report["splits"].items())
    kept = report["dispositions"]["kept"]
    assert f"Pairs: {report['input_records']} candidate pairs, {kept} kept ({splits})." in section
    assert "![preference funnel](preferences/funnel.png)" in section

    # the recipe's own DPO section stays; nothing pushed names this machine
    assert "## DPO on the SFT adapter" in text and "recipes/dpo_qlora.py --config resolved_config.yaml" in text
    for name, data in pushed.items():
        for forbidden in (TOKEN, str(three_systems["root"])):
            assert forbidden.encode() not in data, (name, forbidden)


def test_the_sft_adapter_is_published_from_the_same_evaluation_against_the_base(hub_endpoint, three_systems):
    from huggingface_hub import ModelCard, hf_hub_download

    hub, repo = hub_endpoint, f"{USER}/tiny-reply-sft"
    assert _publish(three_systems["sft"], three_systems["eval"], repo) == 0
    against_base = three_systems["stats"]["comparisons"][2]
    pushed = _pushed(hub, repo)
    assert "eval/sft-vs-base/win_tie_loss.png" in pushed and not any(
        name.startswith("preferences/") for name in pushed
    )
    card = ModelCard.load(hf_hub_download(repo, "README.md", revision="v1"))
    assert "sft" in card.data.tags and "dpo" not in card.data.tags
    recorded = card.data.to_dict()["replytune"]
    assert (recorded["method"], recorded["candidate"], recorded["baseline"]) == ("sft", "sft", "base")
    win_rates = {result.metric_value for result in card.data.eval_results if result.metric_type == "win_rate"}
    assert win_rates == {against_base["pairwise"]["win_rate"]}
    text = card.text
    assert f"**sft** (this adapter) against **base** (the base model) on {against_base['n']} held-out tweets" in text
    assert "| the card's headline comparison | sft vs base (the base model), comparison 3 of 3 in stats.json" in text
    assert "![win_tie_loss](eval/sft-vs-base/win_tie_loss.png)" in text
    assert against_base["verdict"]["summary"].split("; the statistical criteria alone: ")[1] in text
    for section in ("## Against the SFT adapter", "## DPO training", "## Preference data"):
        assert section not in text


def _with_comparisons(three_systems, tmp_path: Path, keep: list[int]) -> Path:
    """A copy of the evaluation whose stats.json keeps only the comparisons numbered `keep` (the first on top)."""
    folder = Path(shutil.copytree(three_systems["eval"], tmp_path / "eval"))
    stats = json.loads((folder / "stats.json").read_text())
    comparisons = [stats["comparisons"][number] for number in keep]
    (folder / "stats.json").write_text(
        json.dumps({**comparisons[0], "inputs": stats["inputs"], "comparisons": comparisons})
    )
    return folder


def test_an_adapter_no_comparison_has_as_its_candidate_is_refused(hub_endpoint, three_systems, tmp_path, capsys):
    hub, repo = hub_endpoint, f"{USER}/refused"
    evaluation = _with_comparisons(three_systems, tmp_path, [0, 1])  # dpo vs base, dpo vs sft: sft is no candidate
    assert _publish(three_systems["sft"], evaluation, repo) == 2
    error = capsys.readouterr().err
    assert "none of its comparisons (dpo vs base, dpo vs sft) has" in error and "as its candidate" in error
    sft_weights = sha256_of(three_systems["sft"] / "adapter_model.safetensors")
    assert f"its adapter_model.safetensors is sha256 {sft_weights[:12]}" in error
    assert not [request for request in hub.requests if request.method in ("POST", "PUT", "DELETE")]


def test_a_dpo_card_says_what_was_not_judged_and_what_was_not_recorded(three_systems, tmp_path):
    from judge.config import PublishConfig
    from judge.publish import cli as publish
    from judge.publish.inputs import PublishRefused, check_dataset_version

    evaluation_dir = _with_comparisons(three_systems, tmp_path, [0, 2])  # no dpo vs sft
    adapter = publish.read_adapter_run(three_systems["dpo"])
    evaluation = publish.read_evaluation(evaluation_dir)
    assert publish.choose_headline(adapter, evaluation, None).startswith("dpo vs base")
    ties = publish.check_provenance(adapter, evaluation, None)
    files = publish.collect_files(adapter, evaluation, tmp_path)
    card = model_card.build_card(adapter, evaluation, "u/dpo", "v1", PublishConfig(), ties, files)
    section = card.split("## Against the SFT adapter")[1].split("\n## ")[0]
    assert "**Not judged.**" in section and "stats.json has no comparison of dpo against sft" in section
    assert "eval/dpo-vs-sft" not in card and "against_sft: null" in card

    # a preference report without the exposure-control stage or intervals, a run without evaluations: said so
    report = adapter.preferences.report
    shares = {**report["earlier_reply_share"], "margin_passing": {**report["earlier_reply_share"]["margin_passing"]}}
    shares["margin_passing"]["ci95"] = None
    del shares["within_exposure_window"]
    adapter.preferences.report = {**report, "earlier_reply_share": shares}
    text = model_card.preference_section(adapter, {})
    assert f"{100 * shares['margin_passing']['share']:.1f}% (no CI recorded)" in text
    assert "and in not recorded after it" in text and "funnel" not in text
    adapter.log_history = []
    assert "no trainer_state.json: the run's eval rewards and loss are not known" in model_card.dpo_metrics_section(
        adapter
    )

    # held-out tweets of another version than the preference pairs were built from: refused
    evaluation.generation_report = {"dataset": {"identity": _local_identity(tmp_path / "other-data")}}
    with pytest.raises(PublishRefused, match="were built from data/v1"):
        check_dataset_version(adapter, evaluation)
    adapter.preferences = None
    assert "was not read" in model_card.preference_section(adapter, {})
    assert BASE_HUB_ID in (three_systems["dpo"] / "adapter_config.json").read_text()


def test_a_dpo_evaluation_is_tied_to_the_preference_source_by_its_data_not_its_folder_name(three_systems, tmp_path):
    """Two local versions are both called data/v1 on many machines: the preference report records its source's data
    hash, so held-out tweets of another v1 (whose test split may hold the pairs' training tweets) are refused, and a
    copy of the real source elsewhere is accepted."""
    from judge.publish import cli as publish
    from judge.publish.inputs import PublishRefused, check_dataset_version, read_preference_data
    from replytune.versions import data_sha256

    source = three_systems["root"] / "data" / "v1"
    adapter = publish.read_adapter_run(three_systems["dpo"])
    adapter.preferences = read_preference_data(adapter)
    evaluation = publish.read_evaluation(three_systems["eval"])
    assert adapter.preferences.report["input"]["data_sha256"] == data_sha256(source)

    another_v1 = tmp_path / "elsewhere" / "data"
    write_version(another_v1 / "v1", random_rows(9, tweets=24))
    evaluation.generation_report = {"dataset": {"identity": _local_identity(another_v1)}}
    with pytest.raises(PublishRefused, match="were built from data/v1"):
        check_dataset_version(adapter, evaluation)

    moved = tmp_path / "moved" / "copy"
    shutil.copytree(source, moved / "v1")
    evaluation.generation_report = {"dataset": {"identity": _local_identity(moved)}}
    tie = check_dataset_version(adapter, evaluation)
    assert f"the same data files, sha256 {data_sha256(source)[:12]}" in tie

    # a report from before the hash was recorded: the folder's name decides, and the tie says so
    adapter.preferences.report = {**adapter.preferences.report}
    adapter.preferences.report["input"] = {**adapter.preferences.report["input"], "data_sha256": None}
    evaluation.generation_report = {"dataset": {"identity": _local_identity(three_systems["root"] / "data")}}
    assert "by the version folder's name only" in check_dataset_version(adapter, evaluation)

    # a hand-edited report whose hash is not a string is refused with the usual message, not a TypeError
    adapter.preferences.report["input"] = {**adapter.preferences.report["input"], "data_sha256": 12345}
    evaluation.generation_report = {"dataset": {"identity": _local_identity(moved)}}
    with pytest.raises(PublishRefused, match="were built from data/v1"):
        check_dataset_version(adapter, evaluation)


def test_a_hub_preference_version_is_read_at_the_commit_the_dpo_run_recorded(hub_endpoint, three_systems, tmp_path):
    from huggingface_hub import HfApi

    from data_prep import preferences
    from judge.publish import cli as publish
    from judge.publish.inputs import PublishRefused, read_preference_data
    from replytune.versions import hub_commit

    repo = f"{USER}/reply-preferences"
    source = str(three_systems["root"] / "data" / "v1")
    preferences.build_preferences(source, tmp_path / "prefs", CONFIG, push_to_hub=repo, version="v1")
    commit = hub_commit(repo, "v1")
    adapter = publish.read_adapter_run(three_systems["dpo"])
    hub_run = {"dataset_kind": "hub", "dataset": repo, "dataset_revision": "v1", "dataset_resolved": commit}
    adapter.metadata = {**adapter.metadata, **hub_run}
    HfApi().create_tag(repo, tag="v2", repo_type="dataset")  # a later tag does not move what the run trained on
    data = read_preference_data(adapter)
    assert data.name == f"{repo}@v1 (commit {commit[:12]})"
    assert data.report == json.loads((tmp_path / "prefs" / "v1" / "report.json").read_text())

    adapter.metadata["dataset_resolved"] = "0" * 40  # a commit the repo does not have: refused, naming it
    with pytest.raises(PublishRefused, match="cannot be read"):
        read_preference_data(adapter)
