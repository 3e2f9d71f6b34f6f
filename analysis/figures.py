#!/usr/bin/python3
"""Figures from the results of `taskrel matrix` and fine-tuning accuracies.

    analysis/figures.py --scores relatedness.csv --accuracy finetune.csv \
        [--matrix relatedness.h5] [--metrics] --out DIR

writes into DIR:
  relatedness_vs_accuracy.png  one panel per (reference,) target: relatedness
                               (x) against fine-tuning accuracy (y), a labelled
                               point per encoder, Pearson r in the title
                               (lower relatedness = more transferable, so a
                               good score shows r < 0)
  relatedness_heatmap.png      relatedness, encoders x targets (one panel per
                               reference), from --matrix (the `relatedness`
                               dataset, cells with done == 0 left blank) or
                               else from the CSV
  metrics_vs_accuracy.png      with --metrics: the same scatter for every
                               metrics_* baseline column, a row per target
  bound_tightness.png          the paper's tightness figure: relatedness (the
                               bound, y) against target_loss (the
                               transferred classifier's test cross-entropy,
                               the quantity it bounds, x), one point per
                               triple coloured by target, with the diagonal
                               y = x; points above it are bounds that hold,
                               their height above it the gap (written when
                               the CSV has target_loss)

Needs only Debian's python3-pandas, -matplotlib and -h5py. Rows whose status
is not "ok" are left out, as `taskrel correlate` does.
"""
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def fail(message):
    print(f"figures.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def load(scores_path, accuracy_path):
    for path in (scores_path, accuracy_path):
        if not os.path.isfile(path):
            fail(f"{path}: no such file")
    scores = pd.read_csv(scores_path)
    accuracy = pd.read_csv(accuracy_path)
    for frame, path, columns in ((scores, scores_path, ["encoder", "target", "relatedness"]),
                                 (accuracy, accuracy_path, ["encoder", "target", "accuracy"])):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            fail(f"{path}: missing column(s) {', '.join(missing)}")
    if "status" in scores.columns:
        scores = scores[scores.status == "ok"]
    if "reference" not in scores.columns:
        scores = scores.assign(reference="")
    keys = ["encoder", "target"] + (["reference"] if "reference" in accuracy.columns else [])
    merged = scores.merge(accuracy, on=keys, how="inner", suffixes=("", "_finetune"))
    if merged.empty:
        fail(f"no (encoder, target) key is in both {scores_path} and {accuracy_path}")
    return scores, merged


def group_label(reference, target, references):
    return f"{reference}->{target}" if references > 1 else str(target)


def pearson(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return None  # undefined: shown as n/a, never NaN
    return float(np.corrcoef(x, y)[0, 1])


def scatter_grid(merged, columns, path):
    """One panel per (group, column): the column against accuracy, a labelled point per encoder."""
    groups = list(merged.groupby(["reference", "target"], sort=True))
    references = merged.reference.nunique()
    rows = len(groups) if len(columns) > 1 else int(np.ceil(len(groups) / min(4, len(groups))))
    cols = len(columns) if len(columns) > 1 else min(4, len(groups))
    figure, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.4 * rows), squeeze=False)
    for axis in axes.flat:
        axis.set_visible(False)
    for g, ((reference, target), part) in enumerate(groups):
        for c, column in enumerate(columns):
            axis = axes[g, c] if len(columns) > 1 else axes.flat[g]
            axis.set_visible(True)
            axis.scatter(part[column], part.accuracy, s=18)
            for _, row in part.iterrows():
                axis.annotate(str(row.encoder), (row[column], row.accuracy), fontsize=6,
                              xytext=(2, 2), textcoords="offset points")
            r = pearson(part[column], part.accuracy)
            label = group_label(reference, target, references)
            axis.set_title(f"{label}: r = {r:.2f}" if r is not None else f"{label}: r = n/a", fontsize=9)
            axis.set_xlabel(column, fontsize=8)
            axis.set_ylabel("fine-tuning accuracy", fontsize=8)
            axis.tick_params(labelsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def heatmap_from_h5(path):
    import h5py

    with h5py.File(path, "r") as f:
        if "relatedness" not in f:
            fail(f"{path}: no 'relatedness' dataset")

        def names(key):
            return [v.decode() if isinstance(v, bytes) else str(v) for v in f.attrs[key]]

        values = np.array(f["relatedness"], dtype=float)
        done = np.array(f["done"], dtype=bool) if "done" in f else np.ones(values.shape, bool)
        encoders, references, targets = names("encoders"), names("references"), names("targets")
    return {reference: pd.DataFrame(np.where(done[:, r, :], values[:, r, :], np.nan), index=encoders,
                                    columns=targets)
            for r, reference in enumerate(references)}


def heatmap_from_csv(scores):
    return {reference: part.pivot(index="encoder", columns="target", values="relatedness")
            for reference, part in scores.groupby("reference", sort=True)}


def heatmap(tables, path):
    figure, axes = plt.subplots(1, len(tables), squeeze=False,
                                figsize=(max(4, 1 + 0.6 * max(t.shape[1] for t in tables.values())) * len(tables),
                                         max(3, 1 + 0.35 * max(t.shape[0] for t in tables.values()))))
    for axis, (reference, table) in zip(axes.flat, tables.items()):
        image = axis.imshow(np.ma.masked_invalid(table.to_numpy(float)), cmap="viridis_r", aspect="auto")
        axis.set_xticks(range(table.shape[1]), [str(c) for c in table.columns], rotation=45, ha="right", fontsize=7)
        axis.set_yticks(range(table.shape[0]), [str(i) for i in table.index], fontsize=7)
        axis.set_title(f"relatedness from {reference}" if reference else "relatedness", fontsize=9)
        figure.colorbar(image, ax=axis, label="relatedness (lower = more related)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def tightness(scores, path):
    """Bound against what it bounds: a point per triple, the diagonal, the gap."""
    data = scores.dropna(subset=["relatedness", "target_loss"])
    figure, axis = plt.subplots(figsize=(5.5, 5))
    for target, part in data.groupby("target", sort=True):
        axis.scatter(part.target_loss, part.relatedness, s=18, label=str(target))
    low = float(min(data.target_loss.min(), data.relatedness.min()))
    high = float(max(data.target_loss.max(), data.relatedness.max()))
    axis.plot([low, high], [low, high], color="black", linewidth=1, label="bound = loss")
    gap = data.relatedness - data.target_loss
    axis.set_title(f"bound vs target loss: gap mean {gap.mean():.2f}, min {gap.min():.2f}, "
                   f"holds {100 * (gap >= 0).mean():.0f}% of {len(data)}", fontsize=9)
    axis.set_xlabel("target_loss (transferred classifier, test split)")
    axis.set_ylabel("relatedness (the bound)")
    axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scores", required=True, help="relatedness.csv of taskrel matrix")
    parser.add_argument("--accuracy", required=True, help="finetune.csv: encoder,target[,reference],accuracy")
    parser.add_argument("--matrix", help="relatedness.h5 of taskrel matrix, for the heatmap")
    parser.add_argument("--metrics", action="store_true", help="also plot every metrics_* column")
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args(argv)

    scores, merged = load(args.scores, args.accuracy)
    os.makedirs(args.out, exist_ok=True)
    written = []
    path = os.path.join(args.out, "relatedness_vs_accuracy.png")
    scatter_grid(merged, ["relatedness"], path)
    written.append(path)
    tables = heatmap_from_h5(args.matrix) if args.matrix else heatmap_from_csv(scores)
    path = os.path.join(args.out, "relatedness_heatmap.png")
    heatmap(tables, path)
    written.append(path)
    if "target_loss" in scores.columns and scores.target_loss.notna().any():
        path = os.path.join(args.out, "bound_tightness.png")
        tightness(scores, path)
        written.append(path)
    metrics = [c for c in merged.columns if c.startswith("metrics_")]
    if args.metrics and metrics:
        path = os.path.join(args.out, "metrics_vs_accuracy.png")
        scatter_grid(merged, metrics, path)
        written.append(path)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
