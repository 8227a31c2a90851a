"""The model card `judge publish` pushes: what the evaluation found, stated so that a reader can check it.

Built through recipes.adapter_card.adapter_card (the recipe's card: base model, dataset, loading snippet, LoRA,
training and provenance tables) with its seams: the results lead, then the significance table, the judge and its
validity, the sanity and forgetting figures, training curves, the exact training config, intended use, limitations
and the files; the metadata carries the license, tags, language and a model-index of the judge metrics. Every
number comes from the evaluation's files as they are (stats.json's verdict is quoted, never recomputed), and a
number that is missing or undefined prints as n/a.

A DPO adapter's card (run_metadata.json: method dpo) adds, after the results: the judged comparison against the SFT
adapter it started from (or that it was not judged), the DPO metrics of its run from trainer_state.json, and the
timing-confound figure of the preference data it trained on, from that version's report.json (pushed under
preferences/); a figure those files do not hold reads "not recorded".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from judge.config import PublishConfig
from judge.provenance import NOT_VALID, describe_dataset
from judge.records import PUBLISHED_EVAL_FOLDER, SCORE_LABELS, STATS_FILE_NAME, VALIDITY_PLOT_FILE_NAME
from replytune.secrets import redact

if TYPE_CHECKING:
    from judge.publish.inputs import AdapterRun, Evaluation

TRAINING_CURVES = "training_curves.png"
KEPT_LOCAL = "generations.jsonl, verdicts.jsonl and the judges' validation verdicts"
PREFERENCES_FOLDER = "preferences"  # a DPO adapter's repo: the report of the preference data it was trained on
PREFERENCE_REPORTS = ("report.json", "funnel.png")


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
    against_sft, why_not = sft_comparison(adapter, evaluation) if adapter.is_dpo else (None, None)
    dpo_sections = (
        [
            (
                "Against the SFT adapter it started from",
                sft_comparison_section(stats, evaluation, against_sft, why_not),
            ),
            *values.lead_sections,  # the recipe's: DPO on the SFT adapter, which it kept as its reference
            ("DPO training", dpo_metrics_section(adapter)),
            ("Preference data and the timing confound", preference_section(adapter, files)),
        ]
        if adapter.is_dpo
        else values.lead_sections
    )
    values.lead_sections = [("Results", results_section(stats, evaluation)), *dpo_sections]
    values.extra_sections = [
        ("Significance", significance_section(stats)),
        ("The judge", judge_section(stats, evaluation, validity_dir)),
        ("Sanity and forgetting", generation_section(evaluation.generation_report, stats, _other_plots(stats, files))),
        ("Training curves", training_curves_section(files)),
        ("Training configuration", training_config_section(files, adapter.is_dpo)),
        ("Intended use", config.intended_use.strip()),
        ("Limitations", limitations_section(adapter, stats, evaluation, config)),
        ("Files", files_section(files)),
    ]
    dataset = values.dataset
    values.card_data = {
        "language": config.language,
        "model_name": repo_id,
        "eval_results": [
            result
            for comparison in (stats, against_sft)
            if comparison is not None
            for result in eval_results(
                comparison, evaluation, adapter, dataset, repo_id, revision, comparison is stats
            )
        ],
        "replytune": path_free(
            {
                "method": values.method,
                "adapter_revision": revision,
                "dataset": dataset,
                "dataset_revision": values.dataset_revision,
                "dataset_commit": values.dataset_commit,
                "judge": stats.get("judge"),
                "baseline": stats["baseline"],
                "candidate": stats["candidate"],
                "criteria_met": stats["verdict"]["criteria_met"],
                "judge_valid_here": bool(stats["verdict"].get("established")),
                "judge_validity_failed": (stats["verdict"].get("judge_validity") or {}).get("failed"),
                **(_dpo_card_data(adapter, against_sft) if adapter.is_dpo else {}),
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
    from judge.publish.inputs import is_base_system

    what = "the base model" if is_base_system(baseline, evaluation) else "not the base model"
    lines = [
        f"**{candidate}** (this adapter) against **{baseline}** ({what}) on {stats['n']} held-out tweets, "
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
    warnings = [judge_validity_warning(stats, evaluation), *evaluation_warnings(stats, evaluation.generation_report)]
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
    "engagement": "the engagement scorer (a ridge regression on sentence embeddings, fitted on the like counts of a "
    "dataset's TRAIN split: not a language model)",
}

PAIRWISE_ENGAGEMENT_KIND = (
    "the engagement scorer (a pairwise logistic regression on plain text features of replies to the same tweet, "
    "fitted on the like counts of a dataset's TRAIN split: not a language model)"
)


def judge_description(stats: dict, evaluation: Evaluation) -> str:
    """The judge as recorded: its kind and model (score_report.json, else stats.json's judge identity)."""
    name = stats.get("judge")
    identity = (stats.get("inputs") or {}).get("judge_identity") or {}
    model = (evaluation.score_report or {}).get("model") or identity.get("model")
    kind = JUDGE_KINDS.get(name, f"judge `{name}`" if name else "an unnamed judge")
    if name == "engagement" and str(model or "").startswith("pairwise-lr"):  # issue 20: the default engagement model
        kind = PAIRWISE_ENGAGEMENT_KIND
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


def judge_validity_warning(stats: dict, evaluation: Evaluation) -> str | None:
    """None when stats.json's judge-validity check holds; else what failed, from the check as recorded, and for the
    engagement judge what its own fit was checked on (engagement_fit.json)."""
    check = _get(stats, "verdict", "judge_validity") or {}
    if check.get("established"):
        return None
    text = f"the judge is not valid here: {check.get('reason') or 'no judge-validity check recorded'}."
    fit = engagement_fit_sentence(evaluation.engagement_fit) if stats.get("judge") == "engagement" else None
    return text + (f" {fit}" if fit else "")


def engagement_fit_sentence(fit: dict | None) -> str | None:
    """What engagement_fit.json says the engagement judge was checked on: its held-out ranking of the dataset it was
    fitted on (eval/test splits), and whether that dataset is synthetic."""
    if not isinstance(fit, dict):
        return None
    from judge.provenance import describe_dataset

    identity = fit.get("dataset_identity")
    dataset = describe_dataset(identity) if isinstance(identity, dict) else str(fit.get("dataset") or "its dataset")
    held = [
        f"{split} split: {_num(entry.get('pairwise_accuracy'))} of {entry.get('pairs')} reply pairs ranked as their "
        f"likes, Spearman rho {_num(entry.get('spearman_rho'))}"
        for split, entry in (fit.get("held_out") or {}).items()
        if isinstance(entry, dict)
    ]
    text = f"The engagement judge was fitted on the TRAIN split of {dataset}"
    text += f"; its held-out fit (engagement_fit.json): {'; '.join(held)}." if held else "; no held-out fit recorded."
    if isinstance(identity, dict) and identity.get("synthetic"):
        text += (
            f" Those tweets are synthetic ({identity.get('synthetic_evidence')}): the fit shows the judge learned "
            "what the generator rewards, not what real readers like."
        )
    elif isinstance(identity, dict):
        text += " That is its fit on held-out pairs of its own dataset, not a `judge validate` check against length."
    return text


def significance_section(stats: dict) -> str:
    baseline, candidate = stats["baseline"], stats["candidate"]
    ci, pairwise, power = stats.get("bootstrap_ci") or {}, stats["pairwise"], stats.get("power") or {}
    level = f"{100 * ci['level']:g}%" if isinstance(ci.get("level"), (int, float)) else "95%"
    means = stats.get("means") or {}
    scale = _get(stats, "score_scale", "scale")
    label = SCORE_LABELS.get(scale, "mean score")
    rows = [("items in the paired tests", _num(stats["n"]))]
    if means:
        rows += [
            (f"{label}, {baseline} / {candidate}", f"{_num(means.get(baseline))} / {_num(means.get(candidate))}"),
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
        _improvement_row(stats),
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


def _improvement_row(stats: dict) -> tuple[str, str]:
    improvement = stats.get("relative_improvement") or {}
    if improvement.get("of") == "win rate":
        return (
            f"relative improvement of the win rate over {stats['baseline']}'s (the scores are centred: a % of their "
            "mean means nothing)",
            f"{_num(improvement.get('pct'))}%",
        )
    return ("relative improvement of the mean score", f"{_num(stats.get('relative_improvement_pct'))}%")


def judge_section(stats: dict, evaluation: Evaluation, validity_dir: str | None) -> str:
    """Who judged (score_report.json) and how far that judge can be trusted (validity.json)."""
    from judge.validate.metrics import verdict_statement

    report, validity, judge = evaluation.score_report, evaluation.validity, stats.get("judge")
    lines = []
    if report:
        spent = _get(report, "run", "spent_usd")
        lines.append(
            f"The judge: {judge_description(stats, evaluation)}, prompt version "
            f"`{report.get('prompt_version', 'n/a')}`, mode {report.get('mode', 'n/a')}"
            + (f"; the scoring run cost ${spent:.2f}" if isinstance(spent, (int, float)) else "")
            + f"; parse errors {_get(report, 'verdicts', 'parse_errors') or 0}."
        )
    else:
        lines.append(f"The judge: {judge_description(stats, evaluation)} (no score_report.json in the evaluation).")
    fit = engagement_fit_sentence(evaluation.engagement_fit) if judge == "engagement" else None
    if fit:
        lines += ["", fit]
    check = _get(stats, "verdict", "judge_validity") or {}
    if check.get("reason"):
        valid = "valid here" if check.get("established") else f"not valid here ({check.get('failed')})"
        lines += ["", f"The verdict's check of the judge: {valid}: {check['reason']}."]
    if validity is None:
        lines += [
            "",
            "No `judge validate` report in the evaluation: this judge's agreement with real likes on held-out pairs "
            "of this dataset version was not measured.",
        ]
        return "\n".join(lines)
    longer = _get(validity, "baselines", "longer_reply") or {}
    coin = _get(validity, "baselines", "coin_flip") or {}
    on = validity.get("dataset")
    where = (
        f"held-out pairs of {describe_dataset(on)} split {validity.get('split')}"
        + (" (synthetic)" if on.get("synthetic") else "")
        if isinstance(on, dict)
        else f"threads from {validity.get('source')}"
    )
    lines += [
        "",
        f"`judge validate` against real likes on {where}: {validity.get('pairs')} reply pairs with different like "
        f"counts in {validity.get('conversations')} conversations; 95% CIs resample conversations:",
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
    earlier = _get(validity, "baselines", "earlier_reply") or {}  # timing alone: what text judges cannot see
    for name, result in (
        ("baseline: longer reply", longer),
        ("baseline: earlier reply", earlier),
        ("baseline: coin flip", coin),
    ):
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
    """What generation_report.json (judge generate) records, stated as it is: per system the replies, how many were
    cut off at max_new_tokens or empty, and the sanity metrics; the forgetting check's perplexities; the generation
    speed when it was measured; then `images` (the evaluation's plots no other section shows, such as
    reply_lengths.png). A part that is missing or malformed is left out, never shown as an empty table."""
    if not isinstance(report, dict):
        return "No generation_report.json in the evaluation folder: no sanity or forgetting figures to state."
    systems = _report_systems(report, stats)
    parts = [_replies_table(report, systems), _forgetting_part(report, stats), _speed_sentence(report, systems)]
    note = _get(report, "sanity_metrics", "note")
    if isinstance(note, str) and parts[0]:
        parts.insert(1, f"_{note}_")
    parts += [f"![{Path(image).stem}]({image})" for image in images]
    return "\n\n".join(part for part in parts if part) or "generation_report.json holds no figures this card can show."


def _report_systems(report: dict, stats: dict) -> list[str]:
    """The baseline and the candidate first, then the report's other systems."""
    listed = report.get("systems") if isinstance(report.get("systems"), dict) else {}
    first = [name for name in (stats["baseline"], stats["candidate"]) if name in listed]
    return first + [name for name in listed if name not in first and isinstance(listed[name], dict)]


SANITY_ROWS = (
    ("ROUGE-L F1 against the real replies", ("rouge_l_f1",)),
    ("BLEU against the real replies", ("bleu", "score")),
    ("distinct-2 (share of distinct word bigrams)", ("distinct_2",)),
    ("replies that loop", ("looping_replies",)),
    ("mean length, characters", ("length_chars", "mean")),
)


def _replies_table(report: dict, systems: list[str]) -> str:
    if not systems:
        return ""
    rows = []
    replies = {name: _get(report, "systems", name, "replies") for name in systems}
    rows.append(("replies", [_num(replies[name]) for name in systems]))
    for flag, label in (("truncated", "cut off at max_new_tokens (truncated)"), ("empty", "empty")):
        values = [_get(report, "systems", name, "flags", flag) for name in systems]
        if any(isinstance(value, int) for value in values):
            rows.append((label, [_num(value) for value in values]))
    metrics = _get(report, "sanity_metrics", "systems")
    for label, keys in SANITY_ROWS:
        values = [_get(metrics, name, *keys) for name in systems]
        if any(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
            rows.append((label, [_num(value) for value in values]))
    header = "| per system | " + " | ".join(systems) + " |\n| --- |" + " --- |" * len(systems)
    return header + "\n" + "\n".join(f"| {label} | " + " | ".join(values) + " |" for label, values in rows)


def _forgetting_part(report: dict, stats: dict) -> str:
    per_system = _get(report, "forgetting", "systems")
    if not isinstance(per_system, dict) or not per_system:
        return ""
    limit = _get(report, "forgetting", "max_increase_pct")
    text = _get(report, "forgetting", "text_file")
    source = f" ({Path(text).name})" if isinstance(text, str) else ""
    lines = [
        f"**Forgetting check**: perplexity on general text{source}; an adapter more than {_num(limit)}% above the "
        "base model is flagged.",
        "",
        "| system | perplexity | change vs the base | flagged |",
        "| --- | --- | --- | --- |",
    ]
    for name, entry in per_system.items():
        if not isinstance(entry, dict):
            continue
        change = entry.get("change_vs_base_pct")
        flagged = {True: "**yes**", False: "no"}.get(entry.get("flagged"), "")
        shown = f"{_num(change)}%" if isinstance(change, (int, float)) else "(the base)"
        lines.append(f"| {name} | {_num(entry.get('perplexity'))} | {shown} | {flagged} |")
    return "\n".join(lines)


def _speed_sentence(report: dict, systems: list[str]) -> str:
    speed = _get(report, "run", "replies_per_second")
    measured = {name: value for name, value in (speed or {}).items() if isinstance(value, (int, float))}
    if not measured:
        return ""
    how = _get(report, "run", "model_load")
    rates = ", ".join(f"{name} {_num(value)}" for name, value in measured.items())
    return f"Generation speed (replies per second{f', {how}' if isinstance(how, str) else ''}): {rates}."


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


def training_curves_section(files: dict) -> str:
    if TRAINING_CURVES not in files:
        return (
            "Not available: the adapter folder has no trainer_state.json (log history); runs of this recipe keep it."
        )
    return (
        "Train and eval loss per optimizer step, and the learning rate, from the run's log history "
        f"(`trainer_state.json`).\n\n![training curves]({TRAINING_CURVES})"
    )


def training_config_section(files: dict, dpo: bool = False) -> str:
    config = files.get("resolved_config.yaml")
    text = config.decode("utf-8") if isinstance(config, bytes) else Path(config).read_text("utf-8")
    script, paths = ("dpo_qlora.py", "`sft_adapter`, ") if dpo else ("sft_qlora.py", "")
    return (
        "The exact configuration of the run (`resolved_config.yaml`, re-runnable with `accelerate launch "
        f"recipes/{script} --config resolved_config.yaml`; local paths are shortened to their last part, so "
        f"point {paths}`dataset_name` and `output_dir` at yours).\n\n<details>\n"
        "<summary>resolved_config.yaml</summary>\n\n"
        f"```yaml\n{text.rstrip()}\n```\n\n</details>"
    )


def limitations_section(adapter: AdapterRun, stats: dict, evaluation: Evaluation, config: PublishConfig) -> str:
    """The configured text, after what this run's own files show."""
    measured = []
    metadata, plan = adapter.metadata, adapter.plan
    if metadata.get("load_path") == "cpu":
        gguf = adapter.config.get("gguf_file")
        weights = (
            f"on the float32 weights transformers dequantized from the GGUF file {gguf} (the GGUF's own "
            "quantization bounds their precision)"
            if gguf
            else f"on its unquantized weights ({metadata.get('load_description') or 'float32'})"
        )
        measured.append(
            f"**A CPU demo run.** {adapter.base_model} was trained on CPU {weights} "
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
    data = dataset_sentence(evaluation, adapter.is_dpo)
    if data:
        measured.append(data)
    warning = judge_validity_warning(stats, evaluation)
    if warning:
        measured.append(warning[0].upper() + warning[1:])
    return "\n".join(f"- {line}" for line in measured) + ("\n" if measured else "") + config.limitations.strip()


def dataset_sentence(evaluation: Evaluation, dpo: bool = False) -> str | None:
    """What the training data was, as the dataset version records it (generation_report.json's identity of the
    version publish checked the adapter was trained on, or for a DPO adapter its preference pairs were made from):
    synthetic, or built from the sources its report.json names."""
    from judge.provenance import describe_dataset

    identity = _get(evaluation.generation_report, "dataset", "identity")
    if not isinstance(identity, dict):
        return None
    trained = "trained (on preference pairs made from it) and evaluated" if dpo else "trained and evaluated"
    if identity.get("synthetic"):
        return (
            f"**Synthetic data.** The adapter was {trained} on {describe_dataset(identity)}, whose tweets "
            f"are synthetic: {identity.get('synthetic_evidence')}. It says nothing about replies to real tweets."
        )
    sources = ", ".join(str(name) for name in identity.get("sources") or []) or "sources its report.json does not name"
    return f"{trained.capitalize()} on {describe_dataset(identity)}, built by `data_prep` from {sources}."


def files_section(files: dict) -> str:
    listed = "\n".join(f"- `{name}`" for name in sorted(files) if name != "README.md")
    return (
        f"{listed}\n\n{KEPT_LOCAL} stay with whoever ran the evaluation: they quote tweets of the training "
        "dataset, which is private by default."
    )


def eval_results(
    stats: dict,
    evaluation: Evaluation,
    adapter: AdapterRun,
    dataset: str | None,
    repo_id: str,
    tag: str,
    headline: bool = True,
) -> list:
    """The model-index: the judge metrics stats.json holds (a number the data could not define is left out). Another
    comparison than the headline (a DPO adapter's against its SFT adapter) names its baseline in every metric's type
    and name: the Hub groups a model-index's results by task type and dataset, so its task name would be lost."""
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
    identity = _get(evaluation.generation_report, "dataset", "identity")
    if isinstance(identity, dict) and identity.get("repo") and identity.get("version"):
        revision = identity["version"]  # the Hub revision itself (generations.jsonl writes REPO@vN)
    significance = _get(stats, "verdict", "criteria", "significance") or {}
    p_value = significance.get("value")
    p_name = "p (Holm-adjusted, the largest of " + ", ".join(significance.get("tests") or ["the tests"]) + ")"
    metrics = [
        ("win_rate", f"win rate vs {stats['baseline']} (ties count half)", _get(stats, "pairwise", "win_rate")),
        ("mean_score_difference", f"mean score difference vs {stats['baseline']}", stats.get("mean_difference")),
        ("d_z", "effect size d_z (paired)", _get(stats, "effect_size", "d_z")),
        ("p_value", p_name, p_value),
        _improvement_metric(stats),
    ]
    if not headline:
        against = f" vs {stats['baseline']}"
        metrics = [
            (f"{kind}_vs_{stats['baseline']}", name if against in name else f"{name}{against}", value)
            for kind, name, value in metrics
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


def _improvement_metric(stats: dict) -> tuple[str, str, Any]:
    improvement = stats.get("relative_improvement") or {}
    if improvement.get("of") == "win rate":
        name = f"relative improvement of the win rate over {stats['baseline']}'s (%; the scores are centred)"
        return ("relative_improvement_of_win_rate_pct", name, improvement.get("pct"))
    return (
        "relative_improvement_pct",
        "relative improvement of the mean score (%)",
        stats.get("relative_improvement_pct"),
    )


# --- a DPO adapter: the comparison against its SFT adapter, the DPO metrics, the preference data ---------------------


def sft_comparison(adapter: AdapterRun, evaluation: Evaluation) -> tuple[dict | None, str]:
    """(stats.json's comparison of this adapter against the SFT adapter its DPO run started from, how it was found)
    or (None, why there is none): the SFT adapter is the system whose weights generation_report.json records as the
    sha256 the DPO run's run_metadata.json records for it."""
    from judge.publish.inputs import system_with_weights

    started = adapter.metadata.get("sft_adapter") if isinstance(adapter.metadata.get("sft_adapter"), dict) else {}
    weights = started.get("weights_sha256")
    if not isinstance(weights, str) or not weights:
        return None, "run_metadata.json records no weights (sha256) of the SFT adapter the DPO run started from"
    systems = system_with_weights(evaluation, weights)
    if not systems:
        return None, (
            f"no system of this evaluation has the SFT adapter's weights (sha256 {weights[:12]}, as run_metadata.json "
            "records them; generation_report.json records each adapter system's)"
        )
    candidate = evaluation.stats["candidate"]
    for comparison in evaluation.comparisons:
        if comparison["candidate"] == candidate and comparison["baseline"] in systems:
            found = (
                f"generation_report.json records {comparison['baseline']}'s weights as the SFT adapter's, sha256 "
                f"{weights[:12]}"
            )
            return comparison, found
    return None, (
        f"stats.json has no comparison of {candidate} against {' or '.join(systems)}, the system with the SFT "
        f"adapter's weights (sha256 {weights[:12]})"
    )


def sft_comparison_section(stats: dict, evaluation: Evaluation, comparison: dict | None, why: str) -> str:
    """The judged comparison against the SFT adapter, as stats.json holds it: W/T/L, win rate and CI, Holm p and the
    verdict; or that it was not judged, and why."""
    candidate = stats["candidate"]
    if comparison is None:
        return (
            f"**Not judged.** The comparison of {candidate} against the SFT adapter its DPO run started from is not "
            f"in this evaluation: {why}. Nothing on this card says whether DPO improved on the SFT adapter (`judge "
            f"generate` with both adapters as systems, then `judge stats --compare {candidate}:SFT` judges it)."
        )
    pairwise, verdict = comparison["pairwise"], comparison["verdict"]
    ci = comparison.get("bootstrap_ci") or {}
    level = f"{100 * ci['level']:g}%" if isinstance(ci.get("level"), (int, float)) else "95%"
    significance = _get(verdict, "criteria", "significance") or {}
    tests = ", ".join(significance.get("tests") or _get(comparison, "holm", "tests") or []) or "its tests"
    rows = [
        ("items", _num(comparison["n"])),
        (
            f"wins / ties / losses of {candidate} ({pairwise.get('source', 'pairwise verdicts')})",
            f"{pairwise.get('wins')} / {pairwise.get('ties')} / {pairwise.get('losses')}",
        ),
        (
            f"win rate (a tie counts half), {level} bootstrap CI",
            f"{_num(pairwise.get('win_rate'))} {_interval(ci.get('win_rate'))}",
        ),
        (f"Holm-adjusted p{_holm_family(comparison)}, the largest of {tests}", _num(significance.get("value"))),
        *((f"Holm-adjusted p, {test}", _num(p)) for test, p in (_get(comparison, "holm", "adjusted_p") or {}).items()),
        ("verdict", verdict_line(comparison)),
    ]
    headline = comparison["baseline"] == stats["baseline"]
    lines = [
        f"**{candidate}** (this adapter) against **{comparison['baseline']}**, the SFT adapter its DPO run started "
        f"from ({why}), on {comparison['n']} held-out tweets, with the same judge and verdicts as the results above"
        + (" (it is the comparison above)." if headline else "."),
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {name} | {value} |" for name, value in rows),
    ]
    image = (comparison.get("plots") or {}).get("win_tie_loss")
    if isinstance(image, str) and not headline:
        lines += ["", f"![{Path(image).stem}]({PUBLISHED_EVAL_FOLDER}/{image})"]
    return "\n".join(lines)


def _holm_family(comparison: dict) -> str:
    """Over which tests stats.json's Holm correction ran, when it spans several comparisons (holm.across)."""
    across = _get(comparison, "holm", "across") or {}
    count, labels = across.get("tests"), across.get("comparisons")
    if not isinstance(count, int) or not isinstance(labels, list):
        return ""
    return f" (over the {count} tests of {len(labels)} comparisons)"


DPO_EVAL_METRICS = (  # (trainer_state.json key, what it is, which value is best)
    ("eval_rewards/accuracies", "reward accuracy: pairs whose chosen reply gets the higher implicit reward", max),
    ("eval_rewards/margins", "reward margin: chosen minus rejected implicit reward", max),
    ("eval_loss", "DPO loss", min),
)


def dpo_metrics_section(adapter: AdapterRun) -> str:
    """The DPO run's evaluations (trainer_state.json's log history): each metric at the first evaluation and at its
    best, and the published adapter's; beta, the loss, the pairs and the steps. A figure not recorded says so."""
    metrics = adapter.metadata.get("metrics") if isinstance(adapter.metadata.get("metrics"), dict) else {}
    config, plan = adapter.config, adapter.plan
    evaluations = [entry for entry in adapter.log_history if "eval_loss" in entry]
    lines = [
        "On the eval split of the preference pairs, every evaluation of the run (`trainer_state.json`); a reply's "
        "implicit reward is beta times the log-ratio of its probability under the adapter and under the SFT adapter "
        "(the reference).",
        "",
    ]
    if not evaluations:
        lines.append(
            "No evaluation is recorded in the run's log history: its eval rewards and loss are not known."
            if adapter.log_history
            else "The adapter folder has no trainer_state.json: the run's eval rewards and loss are not known."
        )
    else:
        lines += [
            "| eval metric | first evaluation | best | the published adapter |",
            "| --- | --- | --- | --- |",
        ]
        saved_step = metrics.get("evaluated_at_step")
        for key, label, best_of in DPO_EVAL_METRICS:
            logged = [
                (entry.get("step"), entry[key])
                for entry in evaluations
                if isinstance(entry.get(key), (int, float)) and not isinstance(entry.get(key), bool)
            ]
            if not logged:
                lines.append(f"| {label} | not recorded | not recorded | not recorded |")
                continue
            first, best = logged[0], best_of(logged, key=lambda pair: pair[1])
            saved = metrics.get(key)
            shown = f"{_num(saved)} (step {saved_step})" if isinstance(saved, (int, float)) else "not recorded"
            lines.append(
                f"| {label} (`{key}`) | {_num(first[1])} (step {first[0]}) | {_num(best[1])} (step {best[0]}) | "
                f"{shown} |"
            )
    loss = config.get("loss_type")
    loss = ", ".join(str(name) for name in loss) if isinstance(loss, list) else loss
    pairs = (plan.get("train_examples"), plan.get("eval_examples"))
    checkpoint = (
        f"the best checkpoint (step {metrics.get('adapter_step')}, by {config.get('metric_for_best_model')})"
        if metrics.get("adapter_is_best_checkpoint")
        else f"the last step ({metrics.get('adapter_step')})"
        if metrics.get("adapter_step") is not None
        else "not recorded"
    )
    rows = [
        ("beta", _recorded(config.get("beta"))),
        ("loss", _recorded(loss)),
        (
            "preference pairs, train / eval",
            f"{_recorded(pairs[0])} / {_recorded(pairs[1])}",
        ),
        (
            "optimizer steps, trained of planned",
            f"{_recorded(metrics.get('trained_steps'))} of {_recorded(plan.get('optimizer_steps'))}",
        ),
        ("the published adapter", checkpoint),
    ]
    lines += ["", "| | |", "| --- | --- |", *(f"| {name} | {value} |" for name, value in rows)]
    return "\n".join(lines)


def _recorded(value) -> str:
    return "not recorded" if value is None or value == "" else _num(value)


def _share(facts: dict | None) -> str:
    """An earlier-reply share as report.json records it: percent, its 95% CI when recorded, and its pairs."""
    if not isinstance(facts, dict) or not isinstance(facts.get("share"), (int, float)):
        return "not recorded"
    interval = facts.get("ci95")
    ci = (
        f" (95% CI {100 * interval[0]:.1f}-{100 * interval[1]:.1f}%, resampling tweets)"
        if isinstance(interval, list) and len(interval) == 2 and None not in interval
        else " (no CI recorded)"
    )
    return f"{100 * facts['share']:.1f}%{ci} of {facts.get('comparable')} pairs with different delays"


def preference_section(adapter: AdapterRun, files: dict) -> str:
    """The preference version the DPO run trained on, from its report.json (pushed under preferences/): the timing
    confound's figure, the earlier reply's share of wins before and after the exposure control, and the pair counts."""
    from data_prep.preferences import STAGES

    data = adapter.preferences
    if data is None:
        return "The preference dataset the DPO run trained on was not read: no figure about it can be stated."
    report = data.report
    shares = report.get("earlier_reply_share") if isinstance(report.get("earlier_reply_share"), dict) else {}
    settings = report.get("preferences") if isinstance(report.get("preferences"), dict) else {}
    built_from = _get(report, "input", "source")
    lines = [
        f"Trained on the preference pairs of {data.name}, made by `data_prep preferences` from "
        f"{built_from or 'a version its report.json does not name'}: two replies to the same tweet, the more liked "
        f"one chosen. `{PREFERENCES_FOLDER}/report.json` holds every figure below.",
        "",
    ]
    before, after = shares.get("margin_passing"), shares.get("within_exposure_window")
    control = settings.get("exposure_control")
    confound = (
        "**The timing confound.** An earlier reply is seen longer and wins most like comparisons whatever it says. "
        f"Among the pairs that pass the like margins, the earlier reply is the chosen one in {_share(before)} before "
        f"the exposure control, and in {_share(after)} after it"
    )
    if control is False:
        confound += "; the exposure control was **off** (`exposure_control: false`), so the pairs kept it"
    elif control is None:
        confound += "; report.json does not record whether the exposure control was on"
    lines.append(confound + f". In the published pairs: {_share(shares.get('kept'))}.")
    if shares:
        lines += [
            "",
            "| stage | pairs | pairs with different delays | earlier reply chosen | share | 95% CI (by tweet) |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for stage, facts in shares.items():
            if not isinstance(facts, dict):
                continue
            share, interval = facts.get("share"), facts.get("ci95")
            cells = [
                STAGES.get(stage, stage),
                _recorded(facts.get("pairs")),
                _recorded(facts.get("comparable")),
                _recorded(facts.get("earlier_chosen")),
                f"{100 * share:.1f}%" if isinstance(share, (int, float)) else "n/a",
                f"{100 * interval[0]:.1f}-{100 * interval[1]:.1f}%"
                if isinstance(interval, list) and len(interval) == 2 and None not in interval
                else "not recorded",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    splits = report.get("splits") if isinstance(report.get("splits"), dict) else {}
    kept = _get(report, "dispositions", "kept")
    per_split = ", ".join(f"{split} {count}" for split, count in splits.items()) or "per split not recorded"
    lines += [
        "",
        f"Pairs: {_recorded(report.get('input_records'))} candidate pairs, {_recorded(kept)} kept ({per_split}).",
    ]
    if f"{PREFERENCES_FOLDER}/funnel.png" in files:
        lines += ["", f"![preference funnel]({PREFERENCES_FOLDER}/funnel.png)"]
    return "\n".join(lines)


def _dpo_card_data(adapter: AdapterRun, against_sft: dict | None) -> dict:
    """The card metadata's DPO facts: the preference data and the judged comparison against the SFT adapter."""
    shares = (adapter.preferences.report.get("earlier_reply_share") or {}) if adapter.preferences else {}
    return {
        "preference_dataset": adapter.preferences.name if adapter.preferences else None,
        "earlier_reply_share_before_exposure_control": _get(shares, "margin_passing", "share"),
        "earlier_reply_share_after_exposure_control": _get(shares, "within_exposure_window", "share"),
        "against_sft": None
        if against_sft is None
        else {
            "baseline": against_sft["baseline"],
            "win_rate": _get(against_sft, "pairwise", "win_rate"),
            "criteria_met": against_sft["verdict"]["criteria_met"],
        },
    }
