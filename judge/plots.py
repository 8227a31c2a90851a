"""The judge's PNG plots: what a reader would rather see than read, next to the numbers in stats.json."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on the machines this runs on
    import matplotlib.pyplot as plt

    return plt


def plot_score_distributions(scores: dict[str, np.ndarray], path: Path, title: str) -> None:
    """One histogram per system, side by side; whole-number scores (a 1-10 rubric) get one bar per score."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 4.5))
    values = [np.asarray(v, dtype=float) for v in scores.values()]
    everything = np.concatenate(values) if values else np.array([0.0])
    if np.all(everything == np.round(everything)) and everything.max() - everything.min() <= 30:
        bins = np.arange(everything.min() - 0.5, everything.max() + 1.5)
    else:
        bins = min(30, max(5, int(np.sqrt(len(everything)))))
    labels = [
        f"{name} (n = {len(v)}, mean {np.mean(v):.3f})" if len(v) else f"{name} (no scores)"
        for name, v in zip(scores, values)
    ]
    axes.hist(values, bins=bins, label=labels, color=["tab:gray", "tab:blue"][: len(values)], rwidth=0.9)
    for value, color in zip(values, ["tab:gray", "tab:blue"]):
        if len(value):
            axes.axvline(np.mean(value), color=color, linestyle="--", linewidth=1)
    axes.yaxis.get_major_locator().set_params(integer=True)  # counts of items
    axes.set_xlabel("score")
    axes.set_ylabel("items")
    axes.set_title(title)
    axes.legend()
    _save(figure, path, plt)


def plot_win_tie_loss(
    counts: dict[str, int], intervals: dict[str, tuple[float, float]], path: Path, title: str
) -> None:
    """The shares of wins, ties and losses of the candidate, each with its confidence interval."""
    plt = _pyplot()
    total = max(1, sum(counts.values()))
    names = list(counts)
    shares = np.array([counts[name] / total for name in names])
    lows = np.array([intervals[name][0] for name in names])
    highs = np.array([intervals[name][1] for name in names])
    figure, axes = plt.subplots(figsize=(7, 4.5))
    bars = axes.bar(
        names,
        shares,
        yerr=np.vstack([shares - lows, highs - shares]),
        capsize=8,
        color=["tab:green", "tab:gray", "tab:red"][: len(names)],
    )
    for bar, name, share, high in zip(bars, names, shares, highs):  # above the error bar, not under its cap
        axes.annotate(f"{counts[name]} ({share:.1%})", (bar.get_x() + bar.get_width() / 2, high + 0.02), ha="center")
    axes.set_ylim(0, 1.08)
    axes.set_ylabel(f"share of {sum(counts.values())} items")
    axes.set_xlabel("error bars: Clopper-Pearson CI of each share")
    axes.set_title(title, fontsize=10)
    _save(figure, path, plt)


def plot_difference_vs_length(
    length_differences: np.ndarray, outcome_differences: np.ndarray, path: Path, title: str, y_label: str
) -> None:
    """Each item's verdict difference against its reply-length difference, with a least-squares line: a judge
    that rewards length shows a slope."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    x = np.asarray(length_differences, dtype=float)
    y = np.asarray(outcome_differences, dtype=float)
    jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(y))  # whole-number verdicts would hide each other
    axes.scatter(x, y + jitter, s=14, alpha=0.6, color="tab:blue")
    if len(x) >= 2 and np.ptp(x) > 0:
        slope, intercept = np.polyfit(x, y, 1)
        line_x = np.array([x.min(), x.max()])
        axes.plot(
            line_x, slope * line_x + intercept, color="tab:red", label=f"least squares: {slope:.3g} per character"
        )
        axes.legend()
    axes.axhline(0, color="black", linewidth=0.6)
    axes.axvline(0, color="black", linewidth=0.6)
    axes.set_xlabel("reply length difference, candidate - baseline (characters)")
    axes.set_ylabel(y_label)
    axes.set_title(title)
    _save(figure, path, plt)


def plot_training_curves(log_history: list[dict], path: Path, title: str) -> bool:
    """Train and eval loss per optimizer step, and the learning rate below them, from a trainer's log history;
    False (nothing drawn) when the history holds no loss."""
    train = [(entry["step"], entry["loss"]) for entry in log_history if _number(entry.get("loss"), entry)]
    evaluation = [
        (entry["step"], entry["eval_loss"]) for entry in log_history if _number(entry.get("eval_loss"), entry)
    ]
    rates = [
        (entry["step"], entry["learning_rate"]) for entry in log_history if _number(entry.get("learning_rate"), entry)
    ]
    if not train and not evaluation:
        return False
    plt = _pyplot()
    figure, (losses, learning_rate) = plt.subplots(
        2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    if train:
        losses.plot(*zip(*train), color="tab:blue", linewidth=1.2, label=f"train loss ({len(train)} logged steps)")
    if evaluation:
        losses.plot(*zip(*evaluation), "o-", color="tab:orange", label=f"eval loss ({len(evaluation)} evaluations)")
    losses.set_ylabel("loss (reply tokens)")
    losses.set_title(title)
    losses.legend()
    losses.grid(alpha=0.3)
    if rates:
        learning_rate.plot(*zip(*rates), color="tab:gray")
    learning_rate.set_ylabel("learning rate")
    learning_rate.set_xlabel("optimizer step")
    learning_rate.xaxis.get_major_locator().set_params(integer=True)  # steps are whole numbers
    learning_rate.grid(alpha=0.3)
    _save(figure, path, plt)
    return True


def _number(value, entry: dict) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) and "step" in entry


def _save(figure, path: Path, plt) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_length_distributions(lengths: dict[str, list[int]], path: Path, title: str, unit: str = "words") -> None:
    """One box per system (median, quartiles, 1.5 IQR whiskers) with every reply as a dot: how long each system's
    replies are, and which run long or come back empty."""
    plt = _pyplot()
    names = list(lengths)
    figure, axes = plt.subplots(figsize=(8, 1.2 + 0.7 * max(1, len(names))))
    values = [np.asarray(lengths[name], dtype=float) for name in names]
    positions = np.arange(1, len(names) + 1)
    present = [index for index, value in enumerate(values) if len(value)]
    if present:
        axes.boxplot(
            [values[index] for index in present],
            positions=positions[present],
            orientation="horizontal",
            widths=0.5,
            showfliers=False,
        )
    jitter = np.random.default_rng(0)  # seeded: the same file gives the same picture
    for position, value in zip(positions, values):
        axes.scatter(value, position + jitter.uniform(-0.15, 0.15, len(value)), s=10, alpha=0.5, color="tab:blue")
    axes.set_yticks(positions, [f"{name} (n = {len(value)})" for name, value in zip(names, values)])
    axes.invert_yaxis()  # the first system on top
    axes.set_xlabel(f"reply length ({unit})")
    axes.set_title(title)
    _save(figure, path, plt)
