"""The model card `judge publish` pushes: what the evaluation found, stated so that a reader can check it.

Built through recipes.adapter_card.adapter_card (the recipe's card: base model, dataset, loading snippet, LoRA,
training and provenance tables) with its seams: the results lead, then the significance table, the judge and its
validity, the sanity and forgetting figures, training curves, the exact training config, intended use, limitations
and the files; the metadata carries the license, tags, language and a model-index of the judge metrics. Every
number comes from the evaluation's files as they are (stats.json's verdict is quoted, never recomputed), and a
number that is missing or undefined prints as n/a.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from judge.config import PublishConfig
from judge.provenance import NOT_VALID
from judge.records import PUBLISHED_EVAL_FOLDER, STATS_FILE_NAME, VALIDITY_PLOT_FILE_NAME
from replytune.secrets import redact

if TYPE_CHECKING:
    from judge.publish.inputs import AdapterRun, Evaluation

TRAINING_CURVES = "training_curves.png"
KEPT_LOCAL = "generations.jsonl, verdicts.jsonl and the judges' validation verdicts"


def build_card(
    adapter: AdapterRun,
    evaluation: Evaluation,
    repo_id: str,
    revision: str,
    config: PublishConfig,
    provenance: dict[str, str],
    files: dict[str, Path | bytes],
) -> str:
    """The card's text (front matter and markdown), through recipes.adapter_card.adapter_card, path-free."""
    from recipes.adapter_card import adapter_card, card_values
    from replytune.publishable import path_free, path_free_text

    stats = evaluation.stats
    values = card_values(
        repo_id, adapter.config, adapter.plan, adapter.metadata, adapter.metadata.get("metrics") or {}, revision
    )
    values.base_model = adapter.base_model
    values.license = config.license
    values.tags = list(config.tags)
    values.provenance.update(provenance)
    validity_dir = _validity_repo_folder(evaluation)
    values.lead_sections = [("Results", results_section(stats, evaluation))]
    values.extra_sections = [
        ("Significance", significance_section(stats)),
        ("The judge", judge_section(stats, evaluation, validity_dir)),
        ("Sanity and forgetting", generation_section(evaluation.generation_report, stats, _other_plots(stats, files))),
        ("Training curves", training_curves_section(files)),
        ("Training configuration", training_config_section(files)),
        ("Intended use", config.intended_use.strip()),
        ("Limitations", limitations_section(adapter, stats, evaluation, config)),
        ("Files", files_section(files)),
    ]
    dataset = values.dataset
    values.card_data = {
        "language": config.language,
        "model_name": repo_id,
        "eval_results": eval_results(stats, evaluation, adapter, dataset, repo_id, revision),
        "replytune": path_free(
            {
                "adapter_revision": revision,
                "dataset": dataset,
                "dataset_revision": values.dataset_revision,
                "dataset_commit": values.dataset_commit,
                "judge": stats.get("judge"),
                "baseline": stats["baseline"],
                "candidate": stats["candidate"],
                "criteria_met": stats["verdict"]["criteria_met"],
            }
        ),
    }
    return redact(path_free_text(str(adapter_card(values))))


def verdict_line(stats: dict) -> str:
    """The verdict in one line: stats.json's summary (which criteria failed, with their numbers)."""
    verdict = stats["verdict"]
    return verdict.get("summary") or ("criteria met" if verdict["criteria_met"] else "criteria not met")


def _num(value, comparison: str | None = None, threshold: float | None = None) -> str:
    from judge.stats.criteria import format_number

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a" if value is None else str(value)
    return format_number(float(value), comparison, threshold)


def _interval(pair) -> str:
    if not isinstance(pair, (list, tuple)) or len(pair) != 2 or None in pair:
        return "n/a"
    return f"[{_num(pair[0])}, {_num(pair[1])}]"


def _get(mapping, *keys):
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def results_section(stats: dict, evaluation: Evaluation) -> str:
    """The verdict first: every criterion met or not with its number, the caveats, and a warning when the judge
    is not known to beat the length baseline."""
    verdict, pairwise = stats["verdict"], stats["pairwise"]
    baseline, candidate = stats["baseline"], stats["candidate"]
    validity = verdict.get("judge_validity") or {}
    if not verdict.get("established", False):
        statistics = "met" if verdict.get("statistical_criteria_met") else "not met"
        headline = (
            f"**Verdict: {NOT_VALID}** ({validity.get('reason') or 'no judge-validity check recorded'}).\n\n"
            f"The statistical criteria below ({statistics}) are listed as `judge stats` computed them; without a "
            "judge shown to predict what real readers like on this dataset, they are not evidence that this "
            "adapter's replies do better."
        )
    elif verdict["criteria_met"]:
        headline = f"**Verdict: every criterion met.** The judge: {validity.get('reason')}."
    else:
        failed = ", ".join(verdict.get("failed") or []) or "see below"
        headline = f"**Verdict: criteria not met** (not met: {failed}). The judge: {validity.get('reason')}."
    lines = [
        f"**{candidate}** (this adapter) against **{baseline}** (the base model) on {stats['n']} held-out tweets, "
        f"judged by {judge_description(stats, evaluation)} ({stats.get('analysis', 'verdicts')}).",
        "",
        headline,
        "",
        "| criterion | value | needs | met |",
        "| --- | --- | --- | --- |",
    ]
    for name, criterion in verdict["criteria"].items():
        value, threshold = criterion.get("value"), criterion.get("threshold")
        comparison = criterion.get("comparison", "")
        if isinstance(value, list):
            shown = _interval(value)
        elif value is None:
            shown = f"n/a ({criterion.get('reason', 'undefined')})"
        else:
            plain = comparison if comparison in ("<", ">", ">=") else None
            shown = _num(value, plain, threshold if plain else None)
        mark = "yes" if criterion.get("met") else "**no**"
        lines.append(f"| {criterion.get('description', name)} | {shown} | {comparison} {_num(threshold)} | {mark} |")
    lines += [
        "",
        f"Win rate of {candidate} (a tie counts half): {_num(pairwise.get('win_rate'))}, 95% CI "
        f"{_interval(_get(stats, 'bootstrap_ci', 'win_rate'))} ({pairwise.get('wins')} wins, {pairwise.get('ties')} "
        f"ties, {pairwise.get('losses')} losses, from {pairwise.get('source', 'pairwise verdicts')}).",
    ]
    warnings = [_length_baseline_warning(stats, evaluation), *evaluation_warnings(stats, evaluation.generation_report)]
    lines += [line for warning in warnings if warning for line in ("", f"> **Warning:** {warning}")]
    caveats = verdict.get("caveats") or []
    if caveats:
        lines += ["", "Caveats:", *(f"- {caveat}" for caveat in caveats)]
    plots = stats.get("plots") or {}
    images = [plots.get(name) for name in ("win_tie_loss", "score_distributions")]
    lines += [""] + [f"![{Path(image).stem}]({PUBLISHED_EVAL_FOLDER}/{image})" for image in images if image]
    return "\n".join(lines).rstrip()


JUDGE_KINDS = {
    "claude": "an LLM judge (Claude, through the Anthropic API)",
    "openai": "an LLM judge (an OpenAI-compatible endpoint)",
    "local": "an LLM judge run on this machine (next-token probabilities)",
    "engagement": "the engagement scorer (a ridge regression on sentence embeddings, fitted on real like counts of a "
    "dataset's TRAIN split: not a language model)",
}


def judge_description(stats: dict, evaluation: Evaluation) -> str:
    """The judge as recorded: its kind and model (score_report.json, else stats.json's judge identity)."""
    name = stats.get("judge")
    identity = (stats.get("inputs") or {}).get("judge_identity") or {}
    model = (evaluation.score_report or {}).get("model") or identity.get("model")
    kind = JUDGE_KINDS.get(name, f"judge `{name}`" if name else "an unnamed judge")
    return f"{kind}, `{model}`" if model else kind


def _other_plots(stats: dict, files: dict) -> list[str]:
    """The evaluation's PNGs that neither stats.json nor validity.json accounts for (judge generate's)."""
    claimed = {
        f"{PUBLISHED_EVAL_FOLDER}/{name}" for name in (stats.get("plots") or {}).values() if isinstance(name, str)
    }
    claimed.add(f"{PUBLISHED_EVAL_FOLDER}/{VALIDITY_PLOT_FILE_NAME}")
    return sorted(
        name
        for name in files
        if name.startswith(f"{PUBLISHED_EVAL_FOLDER}/")
        and name.endswith(".png")
        and name.count("/") == 1
        and name not in claimed
    )


def _length_baseline_warning(stats: dict, evaluation: Evaluation) -> str | None:
    judge = stats.get("judge")
    validity = evaluation.validity
    if validity is None:
        return (
            "the judge was not validated against real likes (no validity.json from `python -m judge validate`): "
            "nothing shows that its preferences predict engagement better than picking the longer reply."
        )
    result = _get(validity, "judges", judge) if judge else None
    if result is None:
        return (
            f"the judge behind these numbers ({judge or 'unnamed'}) is not among the judges validity.json validated "
            f"({', '.join(validity.get('judges') or {}) or 'none'}): its agreement with real likes is unknown."
        )
    if not result.get("beats_length_baseline"):
        return (
            f"the judge ({judge}) did NOT beat the baseline of picking the longer reply on real likes: these results "
            "are no better evidence of engagement than reply length."
        )
    return None


def significance_section(stats: dict) -> str:
    baseline, candidate = stats["baseline"], stats["candidate"]
    ci, pairwise, power = stats.get("bootstrap_ci") or {}, stats["pairwise"], stats.get("power") or {}
    level = f"{100 * ci['level']:g}%" if isinstance(ci.get("level"), (int, float)) else "95%"
    means = stats.get("means") or {}
    rows = [("items in the paired tests", _num(stats["n"]))]
    if means:
        rows += [
            (f"mean score, {baseline} / {candidate}", f"{_num(means.get(baseline))} / {_num(means.get(candidate))}"),
            (
                f"mean difference ({candidate} - {baseline}), {level} bootstrap CI",
                f"{_num(stats.get('mean_difference'))} {_interval(ci.get('mean_difference'))}",
            ),
        ]
    if stats.get("wilcoxon"):
        rows.append(
            (
                "Wilcoxon signed-rank (Pratt): statistic, p",
                f"{_num(stats['wilcoxon'].get('statistic'))}, {_num(stats['wilcoxon'].get('p'))}",
            )
        )
    effect = stats.get("effect_size") or {}
    rows += [
        ("effect size d_z (paired)", _num(effect.get("d_z"))),
        ("Cohen's d, pooled (the seed's, unpaired)", _num(effect.get("cohen_d_pooled"))),
        ("relative improvement of the mean score", f"{_num(stats.get('relative_improvement_pct'))}%"),
    ]
    if stats.get("mann_whitney"):
        rows.append(
            (
                "Mann-Whitney U (unpaired): U, p",
                f"{_num(stats['mann_whitney'].get('u'))}, {_num(stats['mann_whitney'].get('p'))}",
            )
        )
    rows += [
        (
            f"pairwise ({pairwise.get('source', 'verdicts')}): wins / ties / losses",
            f"{pairwise.get('wins')} / {pairwise.get('ties')} / {pairwise.get('losses')}",
        ),
        (f"win rate, {level} bootstrap CI", f"{_num(pairwise.get('win_rate'))} {_interval(ci.get('win_rate'))}"),
        ("judge inconsistent when the order was swapped", _num(pairwise.get("inconsistency_rate"))),
        ("sign test p (decisive items)", _num(pairwise.get("sign_test_p"))),
    ]
    for test, p in (_get(stats, "holm", "adjusted_p") or {}).items():
        rows.append((f"Holm-adjusted p, {test}", _num(p)))
    if power:
        rows.append(
            (
                f"power (paired t, d_z = {_num(power.get('effect_size'))}, alpha {_num(power.get('alpha'))})",
                f"{_num(power.get('achieved_power'))} with n = {power.get('n')}; "
                f"{power.get('n_required')} items needed for {_num(power.get('target'))}",
            )
        )
    length = stats.get("length_difference")
    if isinstance(length, dict):
        rows.append(
            (
                f"{length.get('of', 'verdict')} vs reply length difference: Spearman rho, p",
                f"{_num(length.get('spearman_rho'))}, {_num(length.get('p'))}",
            )
        )
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    images = [image for image in ((stats.get("plots") or {}).get("difference_vs_length"),) if image]
    text = (
        "Both systems answered the same held-out tweets, so the tests are paired (scipy.stats); `eval/stats.json` "
        f"holds every number.\n\n| | |\n| --- | --- |\n{table}"
    )
    return text + "".join(f"\n\n![{Path(image).stem}]({PUBLISHED_EVAL_FOLDER}/{image})" for image in images)


def judge_section(stats: dict, evaluation: Evaluation, validity_dir: str | None) -> str:
    """Who judged (score_report.json) and how far that judge can be trusted (validity.json)."""
    from judge.validate.metrics import verdict_statement

    report, validity, judge = evaluation.score_report, evaluation.validity, stats.get("judge")
    lines = []
    if report:
        spent = _get(report, "run", "spent_usd")
        lines.append(
            f"Judge `{report.get('judge', judge)}`, model `{report.get('model', 'n/a')}`, prompt version "
            f"`{report.get('prompt_version', 'n/a')}`, mode {report.get('mode', 'n/a')}"
            + (f"; the scoring run cost ${spent:.2f}" if isinstance(spent, (int, float)) else "")
            + f"; parse errors {_get(report, 'verdicts', 'parse_errors') or 0}."
        )
    else:
        lines.append(f"Judge `{judge or 'unnamed'}` (no score_report.json in the evaluation folder).")
    if validity is None:
        lines += ["", "Not validated against real likes: run `python -m judge validate` and publish again."]
        return "\n".join(lines)
    longer = _get(validity, "baselines", "longer_reply") or {}
    coin = _get(validity, "baselines", "coin_flip") or {}
    lines += [
        "",
        f"Validity against real likes ({validity.get('pairs')} reply pairs with different like counts in "
        f"{validity.get('conversations')} conversations; 95% CIs resample conversations):",
        "",
        "| judge | accuracy | 95% CI | beats the longer-reply baseline | position consistency | picks the longer "
        "reply | length bias (Spearman rho) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    judges = validity.get("judges") or {}
    for name, result in judges.items():
        marker = " (these results)" if name == judge else ""
        beats = "yes" if result.get("beats_length_baseline") else "**no**"
        lines.append(
            f"| {name}{marker} | {_num(result.get('accuracy'))} | {_interval(result.get('ci'))} | {beats} | "
            f"{_num(result.get('position_consistency'))} | {_num(result.get('longer_reply_rate'))} | "
            f"{_num(result.get('length_bias_spearman'))} |"
        )
    for name, result in (("baseline: longer reply", longer), ("baseline: coin flip", coin)):
        if result:
            lines.append(f"| {name} | {_num(result.get('accuracy'))} | {_interval(result.get('ci'))} | | | | |")
    lines.append("")
    for name, result in judges.items():
        try:
            lines.append(f"- {verdict_statement(name, result)}")
        except (KeyError, TypeError, ValueError):
            continue
    image = VALIDITY_PLOT_FILE_NAME if validity_dir is None else f"{validity_dir}/{VALIDITY_PLOT_FILE_NAME}"
    if evaluation.validity_folder is not None and (evaluation.validity_folder / VALIDITY_PLOT_FILE_NAME).is_file():
        lines += ["", f"![validity]({PUBLISHED_EVAL_FOLDER}/{image})"]
    return "\n".join(lines)


def _validity_repo_folder(evaluation: Evaluation) -> str | None:
    if evaluation.validity_folder is None or evaluation.validity_folder == evaluation.folder:
        return None
    return "validity"


def generation_section(report: dict | None, stats: dict, images: list[str]) -> str:
    """generation_report.json (judge generate), read defensively, since its layout may grow: a table with a column
    per system for every part keyed by system names or holding such a part (`systems`, `sanity_metrics.systems`,
    `forgetting.systems`), with that part's note and other numbers; a part named *forget* on its own; sentences
    (`summary`, `note`, ...) and `warnings` as written; other top-level numbers listed; then `images` (the
    evaluation's plots no other section shows, such as reply_lengths.png)."""
    if not isinstance(report, dict):
        return "No generation_report.json in the evaluation folder: no sanity or forgetting figures to state."
    systems = [stats["baseline"], stats["candidate"]]
    parts, listed = [], []
    for key, value in report.items():
        lowered = str(key).lower()
        if lowered in _NOT_SHOWN or "sha256" in lowered:
            continue
        if isinstance(value, dict):
            table = _system_part(key, value, systems)
            if table is None and "forget" in lowered:
                table = f"**{_label(key)}**\n\n" + _scalars_table(value)
            parts.append(table or "")
        elif isinstance(value, str) and lowered in _SENTENCES:
            parts.append(value)
        elif isinstance(value, list) and lowered in ("warnings", "notes"):
            parts.append("\n".join(f"- {item}" for item in value if isinstance(item, str)))
        elif not isinstance(value, list):
            listed.append((key, value))
    if listed:
        parts.append(_scalars_table(dict(listed)))
    parts += [f"![{Path(image).stem}]({image})" for image in images]
    return "\n\n".join(part for part in parts if part) or "generation_report.json holds no figures this card can show."


_SENTENCES = ("summary", "statement", "verdict", "note", "sentence")


def _system_part(key: str, part: dict, systems: list[str]) -> str | None:
    """A per-system table for `part` when it is keyed by system names, or holds such a dict (with the notes and
    numbers beside it); None when it is neither."""
    if any(system in part for system in systems):
        return _per_system_table(key, part, systems)
    for child_key, child in part.items():
        if isinstance(child, dict) and any(system in child for system in systems):
            notes = [f"_{text}_" for name, text in part.items() if isinstance(text, str) and name in _SENTENCES]
            others = {
                name: value
                for name, value in part.items()
                if name not in _SENTENCES and not isinstance(value, (dict, list))
            }
            table = _per_system_table(child_key, child, systems)
            return "\n\n".join(part for part in [f"**{_label(key)}**", *notes, table, _scalars_table(others)] if part)
    return None


def evaluation_warnings(stats: dict, report: dict | None) -> list[str]:
    """What generation_report.json flags about the candidate: replies cut off at max_new_tokens (the LoRA that never
    stops), empty replies, and the forgetting check."""
    candidate, warnings = stats["candidate"], []
    flags = _get(report, "systems", candidate, "flags") or {}
    replies = _get(report, "systems", candidate, "replies")
    for flag, what in (("truncated", "hit max_new_tokens without ending the turn"), ("empty", "came back empty")):
        count = flags.get(flag)
        if isinstance(count, int) and count > 0:
            share = f" of {replies}" if isinstance(replies, int) else ""
            warnings.append(f"{count}{share} of {candidate}'s replies {what}.")
    forgetting = _get(report, "forgetting", "systems", candidate) or {}
    if forgetting.get("flagged") is True:
        change = forgetting.get("change_vs_base_pct")
        warnings.append(
            f"the forgetting check flagged {candidate}: its perplexity on general text is "
            f"{_num(change)}% above the base model's (limit {_num(_get(report, 'forgetting', 'max_increase_pct'))}%)."
        )
    return warnings


_NOT_SHOWN = {"format", "path", "sha256", "config", "versions", "written_at", "inputs", "generation_settings"}


def _per_system_table(key: str, per_system: dict, systems: list[str]) -> str:
    columns = [system for system in systems if system in per_system] + [
        system for system in per_system if system not in systems and isinstance(per_system[system], dict)
    ]
    rows: dict[str, dict[str, Any]] = {}
    for system in columns:
        for name, value in _flat(per_system.get(system)).items():
            rows.setdefault(name, {})[system] = value
    header = f"| {_label(key)} | " + " | ".join(columns) + " |\n| --- |" + " --- |" * len(columns)
    body = "\n".join(
        f"| {name} | " + " | ".join(_num(values.get(system)) for system in columns) + " |"
        for name, values in rows.items()
    )
    return f"{header}\n{body}"


def _scalars_table(value) -> str:
    flat = _flat(value) if isinstance(value, dict) else {"value": value}
    rows = "\n".join(f"| {name} | {_num(item)} |" for name, item in flat.items())
    return f"| | |\n| --- | --- |\n{rows}" if rows else ""


def _flat(value, prefix: str = "") -> dict[str, Any]:
    """Scalars of a nested dict, by dotted name (paths, hashes and settings left out)."""
    out: dict[str, Any] = {}
    if not isinstance(value, dict):
        return out
    for key, item in value.items():
        if str(key).lower() in _NOT_SHOWN or "sha256" in str(key).lower():
            continue
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            out.update(_flat(item, name + "."))
        elif not isinstance(item, list):
            out[name] = item
    return out


def _label(key: str) -> str:
    return key.replace("_", " ")


def training_curves_section(files: dict) -> str:
    if TRAINING_CURVES not in files:
        return (
            "Not available: the adapter folder has no trainer_state.json (log history); runs of this recipe keep it."
        )
    return (
        "Train and eval loss per optimizer step, and the learning rate, from the run's log history "
        f"(`trainer_state.json`).\n\n![training curves]({TRAINING_CURVES})"
    )


def training_config_section(files: dict) -> str:
    config = files.get("resolved_config.yaml")
    text = config.decode("utf-8") if isinstance(config, bytes) else Path(config).read_text("utf-8")
    return (
        "The exact configuration of the run (`resolved_config.yaml`, re-runnable with `accelerate launch "
        "recipes/sft_qlora.py --config resolved_config.yaml`; local paths are shortened to their last part, so "
        "point `dataset_name` and `output_dir` at yours).\n\n<details>\n<summary>resolved_config.yaml</summary>\n\n"
        f"```yaml\n{text.rstrip()}\n```\n\n</details>"
    )


def limitations_section(adapter: AdapterRun, stats: dict, evaluation: Evaluation, config: PublishConfig) -> str:
    """The configured text, after what this run's own files show."""
    measured = []
    metadata, plan = adapter.metadata, adapter.plan
    if metadata.get("load_path") == "cpu":
        measured.append(
            f"**A CPU demo run.** {adapter.base_model} was trained on CPU without quantization "
            f"({plan.get('train_examples', 'a few')} training examples, "
            f"{_get(metadata, 'metrics', 'trained_steps') or plan.get('optimizer_steps', '?')} optimizer steps). It "
            "shows that the pipeline runs end to end; it is not a useful reply model, and its numbers say nothing "
            "about what the Qwen3-8B recipe achieves on a GPU."
        )
    elif isinstance(plan.get("train_examples"), int) and plan["train_examples"] < 1000:
        measured.append(f"Trained on {plan['train_examples']} examples only.")
    power = stats.get("power") or {}
    if (
        isinstance(power.get("n"), int)
        and isinstance(power.get("n_required"), int)
        and power["n"] < power["n_required"]
    ):
        measured.append(
            f"The evaluation is underpowered: {power['n']} tweets, while {power['n_required']} are needed to detect "
            f"d_z = {_num(power.get('effect_size'))} with {_num(power.get('target'))} power."
        )
    warning = _length_baseline_warning(stats, evaluation)
    if warning:
        measured.append(warning[0].upper() + warning[1:])
    return "\n".join(f"- {line}" for line in measured) + ("\n" if measured else "") + config.limitations.strip()


def files_section(files: dict) -> str:
    listed = "\n".join(f"- `{name}`" for name in sorted(files) if name != "README.md")
    return (
        f"{listed}\n\n{KEPT_LOCAL} stay with whoever ran the evaluation: they quote tweets of the training "
        "dataset, which is private by default."
    )


def eval_results(
    stats: dict, evaluation: Evaluation, adapter: AdapterRun, dataset: str | None, repo_id: str, tag: str
) -> list:
    """The model-index: the judge metrics stats.json holds (a number the data could not define is left out)."""
    from huggingface_hub import EvalResult

    candidate_revisions = {
        record.dataset_revision
        for record in evaluation.generations or []
        if record.system == stats["candidate"] and record.dataset_revision
    }
    revision = (
        candidate_revisions.pop()
        if len(candidate_revisions) == 1
        else (adapter.metadata.get("dataset_revision") if dataset else None)
    )
    significance = _get(stats, "verdict", "criteria", "significance") or {}
    p_value = significance.get("value")
    p_name = "p (Holm-adjusted, the largest of " + ", ".join(significance.get("tests") or ["the tests"]) + ")"
    metrics = [
        ("win_rate", f"win rate vs {stats['baseline']} (ties count half)", _get(stats, "pairwise", "win_rate")),
        ("mean_score_difference", f"mean score difference vs {stats['baseline']}", stats.get("mean_difference")),
        ("d_z", "effect size d_z (paired)", _get(stats, "effect_size", "d_z")),
        ("p_value", p_name, p_value),
        (
            "relative_improvement_pct",
            "relative improvement of the mean score (%)",
            stats.get("relative_improvement_pct"),
        ),
    ]
    judge = stats.get("judge") or "judge"
    return [
        EvalResult(
            task_type="text-generation",
            task_name=f"Tweet replies judged against {stats['baseline']} ({judge})",
            dataset_type=dataset or "local",
            dataset_name=f"{dataset or 'local dataset'}: held-out tweets",
            dataset_split="test",
            dataset_revision=revision,
            metric_type=metric_type,
            metric_name=metric_name,
            metric_value=value,
            source_name="replytune judge stats (eval/stats.json)",
            source_url=f"https://huggingface.co/{repo_id}/blob/{tag}/{PUBLISHED_EVAL_FOLDER}/{STATS_FILE_NAME}",
        )
        for metric_type, metric_name, value in metrics
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
