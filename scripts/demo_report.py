"""The numbers of `make demo`: read back from each stage's artefacts (the files a user can open), and OUTPUT/report.md,
which shows them with links to the plots beside them (paths relative to OUTPUT, so the folder can be moved whole)."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from judge.records import (
    GENERATION_REPORT_FILE_NAME,
    JUDGE_SCORE_SCALES,
    REPLY_LENGTHS_PLOT_FILE_NAME,
    SCORE_LABELS,
    SCORE_REPORT_FILE_NAME,
    STATS_FILE_NAME,
    STATS_PLOT_FILE_NAMES,
)

MARGINS = "eval_rewards/margins"

# --- numbers read back from each stage's artefacts ---------------------------------------------------------------


def version_numbers(folder: Path, id_columns: tuple[str, ...] = ("reply_id",)) -> dict:
    """A version's counts, and the two hashes that show a rerun built the same dataset: of its parquet files, and of
    which row (by `id_columns`: a reply id, or a preference pair's two) is in which split."""
    import pyarrow.parquet as pq

    from replytune.versions import data_sha256

    report = json.loads((folder / "report.json").read_text())
    assignment = hashlib.sha256()
    for path in sorted((folder / "data").glob("*.parquet")):
        split = path.name.split("-", 1)[0]
        table = pq.read_table(path, columns=list(id_columns)).to_pydict()
        for row_id in sorted(">".join(ids) for ids in zip(*(table[name] for name in id_columns))):
            assignment.update(f"{split}\t{row_id}\n".encode())
    dispositions = report.get("dispositions") or {}
    return {
        "version": folder.name,
        "folder": str(folder),
        "input_records": report.get("input_records"),
        "splits": report.get("splits") or {},
        "dispositions": dispositions,
        "content_sha256": data_sha256(folder),  # what `judge` and `data_prep preferences` record of a version
        "split_assignment_sha256": assignment.hexdigest(),
        "funnel_png": str(folder / "funnel.png") if (folder / "funnel.png").exists() else None,
    }


def describe_version(numbers: dict) -> str:
    splits = ", ".join(f"{count} {name}" for name, count in numbers["splits"].items())
    return (
        f"{numbers['version']}: {numbers['input_records']} input records -> {splits} pairs; content sha256 "
        f"{numbers['content_sha256'][:12]}, split sha256 {numbers['split_assignment_sha256'][:12]}"
    )


def preference_numbers(folder: Path) -> dict:
    """A preference version's counts and hashes, and the earlier reply's share of wins before and after the exposure
    control (report.json's `earlier_reply_share`, with 95% bootstrap intervals by tweet)."""
    from replytune import schema as col

    numbers = version_numbers(folder, (col.CHOSEN_REPLY_ID, col.REJECTED_REPLY_ID))
    report = json.loads((folder / "report.json").read_text())
    shares = report.get("earlier_reply_share") or {}
    numbers["earlier_reply_share"] = {
        stage: {key: shares.get(stage, {}).get(key) for key in ("pairs", "comparable", "share", "ci95")}
        for stage in ("different_likes", "margin_passing", "within_exposure_window", "kept")
    }
    numbers["source"] = (report.get("input") or {}).get("source")
    return numbers


def describe_share(facts: dict) -> str:
    if facts.get("share") is None:
        return "n/a"
    ci = facts.get("ci95")
    return f"{100 * facts['share']:.1f}%" + (f" (95% CI {100 * ci[0]:.0f}-{100 * ci[1]:.0f}%)" if ci else "")


def describe_preferences(numbers: dict) -> str:
    splits = ", ".join(f"{count} {name}" for name, count in numbers["splits"].items())
    shares = numbers["earlier_reply_share"]
    return (
        f"{numbers['version']} from {numbers['dataset']}: {splits} pairs of {numbers['input_records']} candidates; "
        f"the earlier reply is chosen in {describe_share(shares['margin_passing'])} of the pairs passing the margins, "
        f"{describe_share(shares['within_exposure_window'])} inside the exposure window"
    )


def dpo_numbers(adapter_dir: Path, curves_png: Path) -> dict:
    """Steps, pairs, the DPO loss and the eval rewards (accuracy: the share of eval pairs whose chosen reply the
    policy prefers more than the reference does; margin: by how much) at the first evaluation and at the adapter kept
    (the best by accuracy, load_best_model_at_end), and the curves PNG."""
    from judge.plots import plot_training_curves
    from recipes.run_files import training_log_history

    history, _ = training_log_history(adapter_dir)
    train_losses = [entry["loss"] for entry in history if "loss" in entry]
    evaluations = [entry for entry in history if "eval_loss" in entry]
    plan = json.loads((adapter_dir / "plan.json").read_text()) if (adapter_dir / "plan.json").exists() else {}
    metadata = adapter_dir / "run_metadata.json"
    metrics = (json.loads(metadata.read_text()).get("metrics") or {}) if metadata.exists() else {}
    kept_step = metrics.get("adapter_step")
    kept = next((entry for entry in evaluations if entry.get("step") == kept_step), None)
    kept = kept or (evaluations[-1] if evaluations else {})
    first = evaluations[0] if evaluations else {}
    drawn = plot_training_curves(history, curves_png, "DPO: the SFT adapter on the demo's preference pairs (CPU)")
    return {
        "steps": max((entry.get("step", 0) for entry in history), default=0),
        "planned_steps": plan.get("optimizer_steps"),
        "train_pairs": plan.get("train_examples"),
        "eval_pairs": plan.get("eval_examples"),
        "evaluations": len(evaluations),
        "first_train_loss": train_losses[0] if train_losses else None,
        "last_train_loss": train_losses[-1] if train_losses else None,
        "adapter_step": kept.get("step"),
        "adapter_is_best_checkpoint": metrics.get("adapter_is_best_checkpoint"),
        **{
            f"{when}_{name}": entry.get(f"eval_rewards/{name}")
            for when, entry in (("first", first), ("kept", kept))
            for name in ("accuracies", "margins")
        },
        "best_margins": max((e[MARGINS] for e in evaluations if e.get(MARGINS) is not None), default=None),
        "curves_png": str(curves_png) if drawn else None,
    }


def describe_dpo(numbers: dict) -> str:
    steps = f"{numbers['steps']} optimizer steps"
    if numbers.get("planned_steps") and numbers["planned_steps"] != numbers["steps"]:
        steps += f" of {numbers['planned_steps']} (early stopping)"
    first_accuracy, kept_accuracy = _fmt(numbers["first_accuracies"]), _fmt(numbers["kept_accuracies"])
    first_margin, kept_margin = _fmt(numbers["first_margins"]), _fmt(numbers["kept_margins"])
    return (
        f"{steps} on {numbers.get('train_pairs') or '?'} pairs of {numbers['dataset']}: DPO loss "
        f"{_fmt(numbers['first_train_loss'])} -> {_fmt(numbers['last_train_loss'])}; eval "
        f"({numbers.get('eval_pairs')} pairs, {numbers['evaluations']} evaluations) reward accuracy "
        f"{first_accuracy} -> {kept_accuracy}, margin {first_margin} -> {kept_margin} (the adapter kept: step "
        f"{numbers['adapter_step']}, the best by accuracy)"
    )


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def training_numbers(adapter_dir: Path, curves_png: Path) -> dict:
    """Steps, losses and the training-curves PNG (drawn from trainer_state.json's log history)."""
    from judge.plots import plot_training_curves
    from recipes.run_files import training_log_history

    history, _ = training_log_history(adapter_dir)
    train_losses = [entry["loss"] for entry in history if "loss" in entry]
    eval_losses = [entry["eval_loss"] for entry in history if "eval_loss" in entry]
    plan = json.loads((adapter_dir / "plan.json").read_text()) if (adapter_dir / "plan.json").exists() else {}
    drawn = plot_training_curves(history, curves_png, "SmolLM2-135M + LoRA on the demo data (CPU)")
    steps = max((entry.get("step", 0) for entry in history), default=0)
    return {
        "steps": steps,
        "train_examples": plan.get("train_examples") or plan.get("train", {}).get("examples"),
        "first_train_loss": train_losses[0] if train_losses else None,
        "last_train_loss": train_losses[-1] if train_losses else None,
        "first_eval_loss": eval_losses[0] if eval_losses else None,
        "best_eval_loss": min(eval_losses) if eval_losses else None,
        "curves_png": str(curves_png) if drawn else None,
    }


def evaluation_numbers(eval_dir: Path) -> dict:
    from judge.publish.card import verdict_line

    stats = json.loads((eval_dir / STATS_FILE_NAME).read_text())
    score_report = json.loads((eval_dir / SCORE_REPORT_FILE_NAME).read_text())
    generation = json.loads((eval_dir / GENERATION_REPORT_FILE_NAME).read_text())
    forgetting = generation.get("forgetting") or {}
    return {
        "tweets": generation["items"],
        "systems": list(generation["systems"]),
        "judge": f"{score_report['judge']} ({score_report['model']})",
        "judge_name": score_report["judge"],
        "score_scale": (stats.get("score_scale") or {}).get("scale") or JUDGE_SCORE_SCALES.get(score_report["judge"]),
        "flags": {
            name: {
                "replies": entry.get("replies"),
                "truncated": (entry.get("flags") or {}).get("truncated"),
                "empty": (entry.get("flags") or {}).get("empty"),
            }
            for name, entry in generation["systems"].items()
        },
        "forgetting_limit_pct": forgetting.get("max_increase_pct"),
        "forgetting_flagged": {
            name: entry.get("flagged")
            for name, entry in (forgetting.get("systems") or {}).items()
            if "flagged" in entry
        },
        "relative_improvement": stats.get("relative_improvement"),
        "established": (stats.get("verdict") or {}).get("established"),
        "judge_calls": score_report["run"]["judged"],
        "judge_from_cache": score_report["run"]["from_cache"],
        "mean_scores": {name: entry["mean_score"] for name, entry in score_report["verdicts"]["single"].items()},
        "pairwise_by_systems": score_report["verdicts"]["pairwise"],
        "n": stats["n"],
        "means": stats.get("means"),
        "mean_difference": stats.get("mean_difference"),
        "pairwise": stats["pairwise"],
        "bootstrap_ci": stats["bootstrap_ci"],
        "effect_size": stats.get("effect_size"),
        "relative_improvement_pct": stats.get("relative_improvement_pct"),
        "holm": stats.get("holm"),
        "verdict": verdict_line(stats),
        "caveats": stats["verdict"].get("caveats", []),
        # every comparison stats.json holds (`comparisons`, in the order asked; the top level is the first)
        "comparisons": [comparison_numbers(each) for each in stats.get("comparisons") or [stats]],
        "forgetting": {
            name: entry.get("change_vs_base_pct")
            for name, entry in ((generation.get("forgetting") or {}).get("systems") or {}).items()
        },
    }


def comparison_numbers(results: dict) -> dict:
    """One comparison of stats.json: the systems, W/T/L, the win rate and its CI, Holm's p, the verdict."""
    from judge.publish.card import verdict_line

    verdict = results.get("verdict") or {}
    return {
        "candidate": results["candidate"],
        "baseline": results["baseline"],
        "n": results["n"],
        "means": results.get("means"),
        "mean_difference": results.get("mean_difference"),
        "pairwise": results["pairwise"],
        "bootstrap_ci": results["bootstrap_ci"],
        "effect_size": results.get("effect_size"),
        "relative_improvement": results.get("relative_improvement"),
        "holm_adjusted_p": (results.get("holm") or {}).get("adjusted_p"),
        "holm_across": (results.get("holm") or {}).get("across"),
        "verdict": verdict_line(results),
        "established": verdict.get("established"),
        "caveats": verdict.get("caveats", []),
        "plots": results.get("plots") or {},
    }


def short_verdict(line: str) -> str:
    """A verdict line without its parenthesised detail: 'not established: the judge is not valid here'."""
    return line.split(" (", 1)[0]


def describe_comparison(numbers: dict) -> str:
    pairwise, ci = numbers["pairwise"], numbers["bootstrap_ci"].get("win_rate") or [None, None]
    return (
        f"{numbers['candidate']} vs {numbers['baseline']}: W/T/L {pairwise['wins']}/{pairwise['ties']}/"
        f"{pairwise['losses']}, win rate {number(pairwise.get('win_rate'))} [{number(ci[0])}, {number(ci[1])}], "
        f"{short_verdict(numbers['verdict'])}"
    )


# --- report.md ---------------------------------------------------------------------------------------------------


def render_report(demo, results: dict, total_seconds: float) -> str:
    out = Path(demo.output)
    hub = "the local stand-in (standins/hub)" if demo.hub == "stand-in" else "huggingface.co"
    lines = [
        "# replytune demo report",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {total_seconds / 60:.1f} min on {os.cpu_count()} CPU "
        f"cores, Hub: {hub}.",
        "",
        "This is a **135M-parameter model trained for a few steps on the CPU, on synthetic tweets**: it shows that "
        "every stage runs and hands the next one what it needs. Its numbers say nothing about what Qwen3-8B on real "
        "data will do; the README's GPU quickstart runs the same stages at full size.",
        "",
        "| stage | time | result |",
        "| --- | ---: | --- |",
    ]
    lines += [f"| {r.name} | {r.seconds:.0f} s | {r.summary.replace('|', '/')} |" for r in results.values()]
    lines.append("")
    if "build" in results:
        lines += dataset_section("1. Dataset v1 (`data_prep build`)", results["build"].numbers, out)
    if "curate" in results:
        lines += curation_section(demo.curate, results["curate"].numbers, out)
    if "train" in results:
        lines += training_section(results["train"].numbers, out)
    if "preferences" in results:
        lines += preferences_section(results["preferences"].numbers, out)
    if "dpo" in results:
        lines += dpo_section(results["dpo"].numbers, out)
    if "evaluate" in results:
        lines += evaluation_section(results["evaluate"].numbers, demo.eval_dir, out)
    if "publish" in results:
        lines += publish_section(results["publish"].numbers)
    if "reply" in results:
        lines += reply_section(results["reply"].numbers)
    lines += [
        "## Reproducibility",
        "",
        "Two runs build the same dataset (the demo's pseudonym key is fixed and public: the tweets are synthetic) "
        "and the second one answers every judge request from the cache outside this folder. Compare "
        "`demo_summary.json` of two runs: `content_sha256` and `split_assignment_sha256` of each version (the "
        "preference pairs' too), and "
        "`judge_calls`. Every command's full output is in `logs/`.",
        "",
    ]
    return "\n".join(lines)


def link(path: str | None, out: Path, alt: str) -> list[str]:
    if not path or not Path(path).exists():
        return [f"_({alt}: no plot was written)_", ""]
    return [f"![{alt}]({os.path.relpath(path, out)})", ""]


def dataset_section(title: str, numbers: dict, out: Path) -> list[str]:
    dispositions = numbers["dispositions"]
    rejected = sorted(((count, reason) for reason, count in dispositions.items() if reason != "kept"), reverse=True)
    lines = [
        f"## {title}",
        "",
        f"- input records: {numbers['input_records']}; kept: {dispositions.get('kept', 0)} pairs "
        f"({', '.join(f'{count} {name}' for name, count in numbers['splits'].items())})",
        f"- pushed to `{numbers['pushed']}` (private)",
        f"- content sha256 `{numbers['content_sha256']}`, split assignment sha256 "
        f"`{numbers['split_assignment_sha256']}`",
        "",
    ]
    if rejected:
        lines += ["| disposition | records |", "| --- | ---: |"]
        lines += [f"| {reason} | {count} |" for count, reason in rejected[:12]]
        if len(rejected) > 12:
            lines.append(f"| ({len(rejected) - 12} more, in report.json) | {sum(c for c, _ in rejected[12:])} |")
        lines.append("")
    return lines + link(numbers.get("funnel_png"), out, "funnel: where the records went")


def curation_section(mode: str, numbers: dict, out: Path) -> list[str]:
    if numbers.get("skipped"):
        return ["## 2. Curation", "", "Skipped: this checkout has no `data_prep curate auto`; training used v1.", ""]
    who = (
        "the validators' suggestions stood in for people (`curate auto`)" if mode == "auto" else "a person in Argilla"
    )
    title = f"2. Curation: {numbers['version']}, decided by {who}"
    return dataset_section(title, numbers, out)


def training_section(numbers: dict, out: Path) -> list[str]:
    def value(name: str) -> str:
        number = numbers.get(name)
        return "n/a" if number is None else f"{number:.4f}"

    return [
        "## 3. Training (SmolLM2-135M-Instruct + LoRA, CPU recipe)",
        "",
        f"- dataset `{numbers['dataset']}` (loaded from the Hub at its tag); {numbers['steps']} optimizer steps on "
        f"{numbers.get('train_examples') or '?'} training pairs",
        f"- train loss {value('first_train_loss')} -> {value('last_train_loss')}; eval loss "
        f"{value('first_eval_loss')} -> best {value('best_eval_loss')}",
        "",
        *link(numbers.get("curves_png"), out, "training curves: train and eval loss per step"),
    ]


def preferences_section(numbers: dict, out: Path) -> list[str]:
    shares = numbers["earlier_reply_share"]
    dispositions = numbers["dispositions"]
    lines = [
        "## 4. Preference pairs (`data_prep preferences`)",
        "",
        f"- from `{numbers['dataset']}` (the version the SFT adapter trained on): {numbers['input_records']} "
        f"candidate pairs (two replies to one tweet in one split), kept: {dispositions.get('kept', 0)} "
        f"({', '.join(f'{count} {name}' for name, count in numbers['splits'].items())})",
        f"- pushed to `{numbers['pushed']}` (private)",
        f"- content sha256 `{numbers['content_sha256']}`, split assignment sha256 "
        f"`{numbers['split_assignment_sha256']}`",
        "",
        "The timing confound: readers see early replies first, so the earlier of two replies wins most like "
        "comparisons whatever it says (the sample builds this in: its second wave of replies earns fewer likes). "
        "The exposure control keeps only pairs whose two replies came close in time; near 50% there means the "
        "preference is about the replies.",
        "",
        "| which pairs | pairs | with different delays | earlier reply chosen (95% CI by tweet) |",
        "| --- | ---: | ---: | --- |",
    ]
    labels = {
        "different_likes": "with different likes",
        "margin_passing": "passing the margins (before the exposure control)",
        "within_exposure_window": "inside the exposure window",
        "kept": "kept (the cap per tweet applied)",
    }
    for stage, label in labels.items():
        facts = shares.get(stage) or {}
        lines.append(f"| {label} | {facts.get('pairs')} | {facts.get('comparable')} | {describe_share(facts)} |")
    lines += ["", "| disposition | candidate pairs |", "| --- | ---: |"]
    lines += [f"| {name} | {count} |" for name, count in dispositions.items()]
    lines.append("")
    return lines + link(numbers.get("funnel_png"), out, "candidate pairs' funnel and the earlier reply's share")


def dpo_section(numbers: dict, out: Path) -> list[str]:
    train, evaluation = numbers.get("train_pairs") or "?", numbers.get("eval_pairs") or "?"
    return [
        "## 5. DPO (the SFT adapter trained further on the preference pairs, CPU recipe)",
        "",
        f"- dataset `{numbers['dataset']}`; {numbers['steps']} optimizer steps (planned "
        f"{numbers.get('planned_steps')}) on {train} train pairs, {numbers['evaluations']} evaluations on "
        f"{evaluation} eval pairs; the reference is the SFT adapter, frozen",
        f"- DPO loss {_fmt(numbers['first_train_loss'])} -> {_fmt(numbers['last_train_loss'])}",
        f"- eval reward accuracy (pairs whose chosen reply the policy prefers more than the reference does) "
        f"{_fmt(numbers['first_accuracies'])} -> {_fmt(numbers['kept_accuracies'])}; reward margin "
        f"{_fmt(numbers['first_margins'])} -> {_fmt(numbers['kept_margins'])} (largest "
        f"{_fmt(numbers['best_margins'])}); the adapter kept is step {numbers['adapter_step']}'s, the best by "
        "accuracy",
        "",
        *link(numbers.get("curves_png"), out, "DPO curves: train and eval loss per step"),
    ]


def evaluation_section(numbers: dict, eval_dir: Path, out: Path) -> list[str]:
    lines = [
        "## 6. Evaluation (`judge run`: generate, score, stats)",
        "",
        f"- {numbers['tweets']} held-out tweets, systems: {', '.join(numbers['systems'])}",
        f"- judge: {numbers['judge']}; judge calls this run: **{numbers['judge_calls']}** "
        f"({numbers['judge_from_cache']} answered from the cache)",
        "",
        f"| system | {SCORE_LABELS.get(numbers.get('score_scale'), 'mean score')} |",
        "| --- | ---: |",
    ]
    signed = numbers.get("score_scale") == "centred"
    lines += [f"| {name} | {score:{'+' if signed else ''}.2f} |" for name, score in numbers["mean_scores"].items()]
    lines += ["", "| pair (both orders combined) | wins | ties | inconsistency |", "| --- | --- | ---: | ---: |"]
    for name, entry in numbers["pairwise_by_systems"].items():
        wins = ", ".join(f"{system} {count}" for system, count in entry["wins"].items())
        lines.append(f"| {name} | {wins} | {entry['ties']} | {entry['inconsistency_rate']} |")
    comparisons = numbers["comparisons"]
    across = comparisons[0].get("holm_across") or {}
    if across:
        lines += [
            "",
            f"{len(comparisons)} comparisons; Holm's correction runs over their {across.get('tests')} tests together.",
        ]
    lines.append("")
    for comparison in comparisons:
        lines += comparison_lines(comparison, signed)
    lines += replies_and_forgetting(numbers)
    first = comparisons[0]
    lines += link(
        str(eval_dir / ((first.get("plots") or {}).get("score_distributions") or "score_distributions.png")),
        out,
        f"score distributions of {first['candidate']} and {first['baseline']}",
    )
    for comparison in comparisons:
        plot = (comparison.get("plots") or {}).get("win_tie_loss") or STATS_PLOT_FILE_NAMES["win_tie_loss"]
        alt = f"win / tie / loss of {comparison['candidate']} against {comparison['baseline']}, with CIs"
        lines += link(str(eval_dir / plot), out, alt)
    return lines + link(str(eval_dir / REPLY_LENGTHS_PLOT_FILE_NAME), out, "reply lengths per system")


def comparison_lines(numbers: dict, signed: bool) -> list[str]:
    pairwise, ci = numbers["pairwise"], numbers["bootstrap_ci"]
    level = f"{ci['level'] * 100:g}%"
    win_rate_ci = ci.get("win_rate") or [None, None]
    adjusted = {test: p for test, p in (numbers.get("holm_adjusted_p") or {}).items() if p is not None}
    holm = ("; Holm-adjusted p " + ", ".join(f"{test} {p:.3g}" for test, p in adjusted.items())) if adjusted else ""
    lines = [
        f"**{numbers['candidate']} vs {numbers['baseline']}** on {numbers['n']} tweets: "
        f"win/tie/loss {pairwise['wins']}/{pairwise['ties']}/{pairwise['losses']}, win rate "
        f"{number(pairwise.get('win_rate'))} ({level} CI {number(win_rate_ci[0])} to {number(win_rate_ci[1])}); "
        f"mean score difference {number(numbers.get('mean_difference'), signed=True)} "
        f"({level} CI {number(ci['mean_difference'][0])} to {number(ci['mean_difference'][1])}); "
        f"d_z {number((numbers.get('effect_size') or {}).get('d_z'))}"
        + _improvement_text(numbers.get("relative_improvement"), numbers["baseline"])
        + holm
        + ".",
        "",
        f"Verdict: {numbers['verdict']}",
        "",
    ]
    lines += [f"- caveat: {caveat}" for caveat in numbers.get("caveats") or []]
    return lines + [""]


def _improvement_text(improvement: dict | None, baseline: str = "base") -> str:
    if not improvement or improvement.get("pct") is None:
        return ""
    if improvement.get("of") == "win rate":
        return (
            f"; relative improvement {improvement['pct']:.1f}% of the win rate over the {baseline}'s (the scores are "
            "centred: a % of their mean means nothing)"
        )
    return f"; relative improvement of the mean score {improvement['pct']:.1f}%"


def replies_and_forgetting(numbers: dict) -> list[str]:
    """generation_report.json's flags (replies cut off at max_new_tokens, empty ones) and the forgetting check."""
    lines = []
    flags = numbers.get("flags") or {}
    if flags:
        lines += [
            "| system | replies | cut off at max_new_tokens (truncated) | empty |",
            "| --- | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {name} | {entry.get('replies')} | {entry.get('truncated')} | {entry.get('empty')} |"
            for name, entry in flags.items()
        ]
        lines.append("")
    changes = {name: change for name, change in (numbers.get("forgetting") or {}).items() if change is not None}
    if changes:
        limit = numbers.get("forgetting_limit_pct")
        flagged = numbers.get("forgetting_flagged") or {}
        described = "; ".join(
            f"{name} {change:+.1f}% vs the base" + (" (**flagged**)" if flagged.get(name) else "")
            for name, change in changes.items()
        )
        lines += [f"Forgetting check (perplexity on general text, flagged above +{limit:g}%): {described}.", ""]
    return lines


def number(value, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def publish_section(published: dict) -> list[str]:
    lines = ["## 7. Published", ""]
    for name, record in (("SFT", published), ("DPO", published.get("dpo"))):
        if not record:
            continue
        repo, revision, card = record["repo_id"], record["revision"], record.get("card_file")
        lines += [
            f"The {name} adapter: `{repo}@{revision}` (commit `{record['commit'][:12]}`, "
            f"{'private' if record['private'] else 'public'}): {len(record['files'])} files in one tagged commit: the "
            "adapter, the model card and the evaluation."
            + (f" The card as published: [{card}]({card})." if card else ""),
            "",
            "```python",
            f'model = PeftModel.from_pretrained(base, "{repo}", revision="{revision}")',
            "```",
            "",
        ]
    return lines


def reply_section(numbers: dict) -> list[str]:
    return [
        f"## 8. The SFT adapter, loaded back from `{numbers['loaded']}`, answers a new tweet",
        "",
        f"> {numbers['tweet']}",
        "",
        f"- adapter: {numbers.get('adapter')!r}",
        f"- base model (the same decoding): {numbers.get('base')!r}",
        "",
    ]
