"""What `judge generate` reports once the replies are written: generation_report.json (every number, with the inputs
and settings that produced it), generation_summary.md (the same, short, for people) and reply_lengths.png.

The numbers are computed from generations.jsonl as it stands after the run (this run's systems and tweets), so a
resumed run reports on the whole evaluation, not on its own part of it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from judge.records import (
    GENERATION_REPORT_FILE_NAME,
    GENERATION_SUMMARY_FILE_NAME,
    GENERATIONS_FILE_NAME,
    REPLY_LENGTHS_PLOT_FILE_NAME,
    GenerationRecord,
    read_records,
)
from replytune import schema as col
from replytune.files import sha256_of, write_json_atomically

REPORT_FORMAT = 1
SANITY_NOTE = (
    "Sanity checks only: overlap with the real reply and n-gram diversity correlate poorly with engagement; they "
    "catch broken systems (empty, looping, copied or cut-off replies), not better ones. The judges decide that."
)
LISTED_IDS = 50


def build_report(prepared, forgetting: dict | None, timings: dict) -> dict:
    from judge.generate.sanity_metrics import ScoredReply, system_metrics
    from judge.provenance import dataset_identity

    config, plan, dataset = prepared.config, prepared.plan, prepared.dataset
    path = prepared.output / GENERATIONS_FILE_NAME
    records, problems, _ = read_records(path, GenerationRecord)
    wanted = {tweet.item_id: tweet for tweet in prepared.tweets}
    names = [system.name for system in plan.systems]
    by_system: dict[str, dict[str, GenerationRecord]] = {name: {} for name in names}
    other_lines = 0
    for _, record in records:
        if record.system in by_system and record.item_id in wanted:
            by_system[record.system].setdefault(record.item_id, record)
        else:
            other_lines += 1
    systems, metrics = {}, {}
    for system in plan.systems:
        lines = list(by_system[system.name].values())
        systems[system.name] = system_entry(system, plan, lines, timings)
        if config.metrics.enabled:
            scored = [
                ScoredReply(
                    line.reply,
                    tuple(row[col.REPLY_TEXT] for row in wanted[line.item_id].human_replies),
                    line.completion_tokens,
                )
                for line in lines
            ]
            metrics[system.name] = system_metrics(
                scored, system.kind == "human", config.metrics.repetition_ngram, config.metrics.rouge_use_stemmer
            )
    return {
        "format": REPORT_FORMAT,
        "dataset": {
            "source": dataset.source,
            "hub_repo": dataset.hub_repo,
            "version": dataset.version,
            "split": config.split,
            "train_split": config.train_split,
            "prompt_template": dataset.config.output.prompt_template,
            # what `judge stats` and `judge publish` tie the evaluation to: judge/provenance.py
            "identity": dataset_identity(dataset.source, dataset.folder, dataset.version, dataset.hub_repo),
        },
        "items": len(prepared.tweets),
        "skipped_tweets": {reason: ids[:LISTED_IDS] for reason, ids in prepared.skipped.items()},
        "skipped_tweet_counts": {reason: len(ids) for reason, ids in prepared.skipped.items()},
        "base_model": dataclasses.asdict(plan.base) if plan.base else None,
        "decoding": dataclasses.asdict(config.decoding),
        "systems": systems,
        "run": {
            "generated_now": timings.get("generated_now", 0),
            "already_done": timings.get("already_done", 0),
            "wall_seconds": timings.get("wall_seconds"),
            "model_load": timings.get("model_load"),
            "replies_per_second": {
                name: round(timings["model_replies"][name] / seconds, 3)
                for name, seconds in timings.get("model_seconds", {}).items()
                if seconds > 0
            },
        },
        "sanity_metrics": {"note": SANITY_NOTE, "systems": metrics} if config.metrics.enabled else None,
        "forgetting": forgetting,
        "generations": {
            "path": str(path),
            "sha256": sha256_of(path) if path.exists() else None,
            "lines": len(records) + len(problems),
            "problems": [str(problem) for problem in problems[:20]],
            "lines_of_other_systems_or_tweets": other_lines,
        },
        "config": dataclasses.asdict(config),
    }


def system_entry(system, plan, lines: list[GenerationRecord], timings: dict) -> dict:
    truncated = sorted(line.item_id for line in lines if line.truncated)
    empty = sorted(line.item_id for line in lines if line.empty)
    entry = {
        "spec": system.spec,
        "kind": system.kind,
        "system_spec": lines[0].system_spec if lines else None,
        "replies": len(lines),
        "flags": {
            "truncated": len(truncated),
            "empty": len(empty),
            "truncated_items": truncated[:LISTED_IDS],
            "empty_items": empty[:LISTED_IDS],
        },
    }
    if system.kind == "adapter":
        adapter = plan.adapters[system.name]
        entry["adapter"] = {
            "source": adapter.source,
            "revision": adapter.revision,
            "commit": adapter.commit,
            "weights_sha256": adapter.weights_sha256,
            "base_model": adapter.base_model,
            "trained_from": adapter.trained_from,
            "gguf_file": adapter.gguf_file,
        }
    return entry


def write_outputs(report: dict, output: Path) -> None:
    from judge.plots import plot_length_distributions

    write_json_atomically(output / GENERATION_REPORT_FILE_NAME, report)
    (output / GENERATION_SUMMARY_FILE_NAME).write_text(summary_markdown(report), encoding="utf-8")
    lengths = reply_lengths(output / GENERATIONS_FILE_NAME, report)
    title = f"Reply length per system ({report['dataset']['split']} split, {report['items']} tweets)"
    plot_length_distributions(lengths, output / REPLY_LENGTHS_PLOT_FILE_NAME, title)


def reply_lengths(path: Path, report: dict) -> dict[str, list[int]]:
    lengths: dict[str, list[int]] = {name: [] for name in report["systems"]}
    seen = set()
    for _, record in read_records(path, GenerationRecord)[0]:
        if record.system in lengths and (record.item_id, record.system) not in seen:
            seen.add((record.item_id, record.system))
            lengths[record.system].append(len(record.reply.split()))
    return lengths


def _number(value, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def summary_markdown(report: dict) -> str:
    dataset, decoding = report["dataset"], report["decoding"]
    base = report["base_model"]
    lines = [
        "# judge generate",
        "",
        f"- **Tweets:** {report['items']} from split `{dataset['split']}` of "
        f"{dataset['hub_repo'] or dataset['source']} ({dataset['version']})",
        f"- **Base model:** {base['model_name_or_path'] + (' / ' + base['gguf_file'] if base['gguf_file'] else '')}"
        if base
        else "- **Base model:** none (no model system)",
        "- **Decoding (every model system):** "
        + (
            f"sampling, temperature {decoding['temperature']}, top_p {decoding['top_p']}, top_k {decoding['top_k']}"
            if decoding["do_sample"]
            else "greedy"
        )
        + f", repetition penalty {decoding['repetition_penalty']}, max_new_tokens {decoding['max_new_tokens']}, "
        f"seed {decoding['seed']}, batch {decoding['batch_size']}, non-thinking chat format",
    ]
    for reason, count in report["skipped_tweet_counts"].items():
        lines.append(f"- **Left out:** {count} tweet(s): {reason}")
    lines += [
        "",
        "## Systems",
        "",
        "| system | spec | replies | truncated | empty |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, entry in report["systems"].items():
        flags = entry["flags"]
        lines.append(
            f"| {name} | `{entry['system_spec'] or entry['spec']}` | {entry['replies']} | {flags['truncated']} | "
            f"{flags['empty']} |"
        )
    sanity = report.get("sanity_metrics")
    if sanity:
        lines += ["", "## Sanity metrics", "", f"_{sanity['note']}_", ""]
        header = "| system | ROUGE-L F1 | BLEU | distinct-1 | distinct-2 | repetition | looping | words (mean) |"
        lines += [header, "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, metrics in sanity["systems"].items():
            repetition = next((value for key, value in metrics.items() if key.startswith("repetition_rate")), None)
            bleu = metrics["bleu"]["score"] if metrics["bleu"] else None
            lines.append(
                f"| {name} | {_number(metrics['rouge_l_f1'])} | {_number(bleu)} | {_number(metrics['distinct_1'])} | "
                f"{_number(metrics['distinct_2'])} | {_number(repetition)} | {metrics['looping_replies']} | "
                f"{_number(metrics['length_words'].get('mean'))} |"
            )
    forgetting = report.get("forgetting")
    if forgetting and forgetting.get("systems"):
        lines += [
            "",
            "## Forgetting check",
            "",
            f"Perplexity on general text ({Path(forgetting['text_file']).name}); an adapter more than "
            f"{forgetting['max_increase_pct']}% above the base is flagged.",
            "",
            "| system | perplexity | change vs base | flagged |",
            "| --- | --- | --- | --- |",
        ]
        for name, entry in forgetting["systems"].items():
            change = entry.get("change_vs_base_pct")
            flagged = "**yes**" if entry.get("flagged") else ("no" if change is not None else "(reference)")
            lines.append(
                f"| {name} | {_number(entry['perplexity'], 4)} | "
                f"{'n/a' if change is None else f'{change:+.2f}%'} | {flagged} |"
            )
    run = report["run"]
    lines += [
        "",
        f"This run generated {run['generated_now']} replies ({run['already_done']} were already in "
        f"{GENERATIONS_FILE_NAME}) in {_number(run['wall_seconds'])} s.",
        "",
    ]
    return "\n".join(lines)
