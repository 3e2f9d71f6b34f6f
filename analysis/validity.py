#!/usr/bin/env python3
"""The validity study: how well each score predicts fine-tuned accuracy, and
how tight the bound is, on both bundled zoos and across taskrel's choices.

For every zoo and variant it runs `taskrel matrix` (under mpiexec) and
`taskrel correlate`, and tabulates per column the mean over targets of the
Pearson and the Spearman r across encoders, with the stratified bootstrap
interval of the mean Pearson r (correlate's mean_ci), for relatedness, each of
its terms, target_loss (the bound's left side), the proof's tighter middle
step and, in the default variant, every baseline; and the bound's gap
(relatedness - target_loss): mean, smallest, and the share of triples where
it holds; whether the fits converged and their time.

Variants: the default (converged fits, tau0 auto, label-exact); tau0 0.02
(the paper's fixed value), alone, with the fit capped at 60 epochs (the old
job's budget) and in the paper-code mode; the best of three references
(taskrel's extension; self pairs excluded). Every variant writes
its own matrix directory, so a rerun resumes. Usage (the zoos must be built:
`taskrel build-zoo --out out/fmnist` and `--out out/fmnist-second --preset
second`):

  /usr/bin/python3 analysis/validity.py [--zoos fmnist second] [--only NAME ...] [--table-only | --rescore]

Writes OUT/validity.json and OUT/validity.md (default OUT: out/validity).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sensitivity import with_relate_keys  # noqa: E402  (one job-spec rewriter for both studies)

ZOOS = {
    "fmnist": {"job": "jobs/fmnist.toml", "dir": "out/fmnist", "references": ["fmnist10", "coarse4", "rotated"]},
    "second": {"job": "jobs/fmnist-second.toml", "dir": "out/fmnist-second",
               "references": ["fmnist10", "warmth3", "flipped"]},
}
SCORES = ["relatedness", "reweighted_loss", "label_mismatch", "tau_distribution_mismatch", "distribution_mismatch",
          "target_loss", "transformed_bound"]
LABELS = {"relatedness": "relatedness", "reweighted_loss": "RW", "label_mismatch": "H",
          "tau_distribution_mismatch": "tau W_d", "distribution_mismatch": "W_d", "target_loss": "target_loss",
          "transformed_bound": "middle step"}


BASELINES_VARIANT = "tau0 0.02 (the paper's)"


def variants(zoo):
    # The job specs say tau0 = "auto" (the default): every variant but the
    # first sets what it changes explicitly.
    yield "default (tau0 auto)", {}, None
    yield "tau0 0.02 (the paper's)", {"tau0": "0.02"}, None
    yield "tau0 0.02, cap 60 epochs", {"tau0": "0.02", "epochs": "60"}, None
    yield "tau0 0.02, paper-code", {"tau0": "0.02", "mode": '"paper-code"'}, None
    yield "best of 3 references", {}, ZOOS[zoo]["references"]


def with_references(text, references):
    lines = [line for line in text.splitlines() if not re.match(r"\s*references\s*=", line)]
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("[relate]"))
    lines.insert(at, "references = [" + ", ".join(f'"{r}"' for r in references) + "]")
    return "\n".join(lines) + "\n"


def correlate(taskrel, scores, accuracy, columns, env):
    result = subprocess.run([taskrel, "correlate", "--scores", scores, "--accuracy", accuracy, "--columns",
                             ",".join(columns), "--bootstrap", "1000", "--json", "--quiet"],
                            check=True, env=env, capture_output=True, text=True)
    return json.loads(result.stdout)


def summarise(csv_path):
    import pandas as pd
    frame = pd.read_csv(csv_path)
    ok = frame[frame.status == "ok"]
    return {"triples": int(len(ok)), "gap_mean": float(ok.gap.mean()), "gap_min": float(ok.gap.min()),
            "bound_holds": float(ok.bound_holds.astype(bool).mean()),
            "converged": float(ok.fit_converged.astype(bool).mean()), "epochs": float(ok.fit_epochs.mean()),
            "fit_seconds": float(ok.timings_fit.mean()), "target_accuracy": float(ok.target_accuracy.mean()),
            "metrics": sorted(c for c in frame.columns if c.startswith("metrics_"))}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoos", nargs="*", default=list(ZOOS))
    parser.add_argument("--out", default="out/validity")
    parser.add_argument("--taskrel", default=os.environ.get("TASKREL_BINARY", "build/src/cli/taskrel"))
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="run only the variants whose name contains one of these")
    parser.add_argument("--table-only", action="store_true", help="print the table of the stored results, run nothing")
    parser.add_argument("--rescore", action="store_true",
                        help="recompute the summaries and correlations of the variants already run from their CSVs "
                             "(no matrix run; for new columns)")
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    os.makedirs(args.out, exist_ok=True)
    rows_path = os.path.join(args.out, "validity.json")
    rows = json.load(open(rows_path)) if os.path.exists(rows_path) else []

    for zoo in args.zoos:
        spec = ZOOS[zoo]
        store, accuracy = os.path.join(spec["dir"], "store.h5"), os.path.join(spec["dir"], "finetune.csv")
        for path in [spec["job"], store, accuracy, args.taskrel]:
            if not args.table_only and not os.path.exists(path):
                sys.exit(f"validity.py: {path} does not exist (build the zoo first)")
        for name, keys, references in variants(zoo):
            if args.table_only or (args.only and not any(o in name for o in args.only)):
                continue
            directory = os.path.join(args.out, zoo, re.sub(r"[^A-Za-z0-9.]+", "_", name).strip("_"))
            os.makedirs(directory, exist_ok=True)
            text = open(spec["job"]).read()
            # Baselines once, in the tau0 0.02 variant (they use the
            # reference head, which tau0 changes only a little).
            text = with_relate_keys(text, dict(keys, metrics='"all"' if name == BASELINES_VARIANT else '"none"'))
            if references:
                text = with_references(text, references)
            job = os.path.join(directory, "job.toml")
            with open(job, "w") as f:
                f.write(text)
            csv = os.path.join(directory, "matrix", "best_reference.csv" if references else "relatedness.csv")
            if args.rescore:
                if not os.path.exists(csv):
                    continue
                seconds = 0.0
            else:
                print(f"== {zoo} / {name}: taskrel matrix -> {directory}", flush=True)
                started = time.time()
                subprocess.run(["mpiexec", "-n", str(args.ranks), args.taskrel, "matrix", job, "--store", store,
                                "--output", os.path.join(directory, "matrix"), "--quiet"], check=True, env=env)
                seconds = time.time() - started
            summary = summarise(csv)
            columns = SCORES + summary.pop("metrics")
            report = correlate(args.taskrel, csv, accuracy, columns, env)
            # A rerun over a finished matrix only resumes (seconds); keep the
            # wall time of the run that computed it.
            previous = next((r for r in rows if (r["zoo"], r["variant"]) == (zoo, name)), None)
            if previous is not None:
                seconds = max(seconds, previous["seconds"])
            row = {"zoo": zoo, "variant": name, "seconds": round(seconds, 1), **summary, "scores": {}}
            for column in columns:
                row["scores"][column] = {"pearson": report["mean"][column]["pearson"],
                                         "spearman": report["mean"][column]["spearman"],
                                         "pearson_ci": report["mean_ci"][column]["pearson"]}
            rows = [r for r in rows if (r["zoo"], r["variant"]) != (zoo, name)] + [row]
            with open(rows_path, "w") as f:
                json.dump(rows, f, indent=1)

    order = [name for name, _, _ in variants("fmnist")]
    rows.sort(key=lambda r: (r["zoo"], order.index(r["variant"]) if r["variant"] in order else len(order)))
    table = render(rows)
    with open(os.path.join(args.out, "validity.md"), "w") as f:
        f.write(table + "\n")
    print(table)


def render(rows):
    def r(value):
        return "n/a" if value is None else f"{value:+.2f}"

    def score(entry):
        low, high = entry["pearson_ci"]
        interval = "" if low is None else f" [{low:+.2f}, {high:+.2f}]"
        return f"{r(entry['pearson'])}{interval} / {r(entry['spearman'])}"

    out = ["Mean over targets of the correlation across encoders with fine-tuned accuracy: Pearson r "
           "[95 % stratified bootstrap interval of the mean] / Spearman r. Relatedness and its terms are "
           "lower-is-better (a good score gives r < 0), the baselines higher-is-better (r > 0).", ""]
    out += ["| zoo | variant | " + " | ".join(LABELS[s] for s in SCORES) +
            " | gap mean (min) | bound holds | converged | epochs | fit s | matrix s |",
            "| --- | --- |" + " --- |" * (len(SCORES) + 6)]
    for row in rows:
        out.append(f"| {row['zoo']} | {row['variant']} | " +
                   " | ".join(score(row["scores"][s]) for s in SCORES) +
                   f" | {row['gap_mean']:.2f} ({row['gap_min']:+.2f}) | {100 * row['bound_holds']:.0f} % |"
                   f" {100 * row['converged']:.0f} % | {row['epochs']:.0f} | {row['fit_seconds']:.1f} |"
                   f" {row['seconds']:.0f} |")
    baselines = [row for row in rows if row["variant"] == BASELINES_VARIANT]
    if baselines:
        names = sorted({c for row in baselines for c in row["scores"] if c.startswith("metrics_")})
        out += ["", f"Baselines ({BASELINES_VARIANT} variant, same run): mean Pearson r [interval] / Spearman r", "",
                "| zoo | " + " | ".join(n[len("metrics_"):] for n in names) + " |",
                "| --- |" + " --- |" * len(names)]
        for row in baselines:
            out.append(f"| {row['zoo']} | " + " | ".join(score(row["scores"][n]) for n in names) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
