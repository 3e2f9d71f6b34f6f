#!/usr/bin/env python3
"""Sensitivity of the relatedness-accuracy correlation to taskrel's choices.

Runs `taskrel matrix` on variants of a job spec and `taskrel correlate` on each,
and tabulates the mean correlation across targets (Pearson and Spearman, across
encoders) of the relatedness and of each of its terms alone (RW, H, tau * W_d):

  - tau0 in {0.02, 0.2, 2} x mode in {label-exact, paper-code};
  - the paper's two side claims: 10 % of the target data (target_fraction =
    0.1) and pseudo-labels instead of the true target labels.

Every variant writes its own matrix directory, so a rerun resumes (finished
variants cost a second). Usage (the bundled zoo must exist: scripts/demo.sh):

  /usr/bin/python3 analysis/sensitivity.py --job jobs/fmnist.toml \
      --store out/fmnist/store.h5 --accuracy out/fmnist/finetune.csv --out out/fmnist/sensitivity
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

TERMS = ["relatedness", "reweighted_loss", "label_mismatch", "tau_distribution_mismatch"]
TERM_LABELS = {"relatedness": "RW + H + tau W_d", "reweighted_loss": "RW", "label_mismatch": "H",
               "tau_distribution_mismatch": "tau W_d"}


def variants():
    for tau0 in ["0.02", "0.2", "2"]:
        for mode in ["label-exact", "paper-code"]:
            yield f"tau0={tau0} {mode}", {"tau0": tau0, "mode": f'"{mode}"'}
    yield "10% target data", {"target_fraction": "0.1"}
    yield "pseudo-labels", {"pseudo_labels": "true"}


def with_relate_keys(text, keys):
    """The job spec with `keys` set in its [relate] table (replaced or added)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "[relate]"), None)
    if start is None:
        lines.append("[relate]")
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    body = [line for line in lines[start + 1:end]
            if not any(re.match(rf"\s*{re.escape(k)}\s*=", line) for k in keys)]
    body += [f"{k} = {v}" for k, v in keys.items()]
    return "\n".join(lines[:start + 1] + body + lines[end:]) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--job", default="jobs/fmnist.toml")
    parser.add_argument("--store", default="out/fmnist/store.h5")
    parser.add_argument("--accuracy", default="out/fmnist/finetune.csv")
    parser.add_argument("--out", default="out/fmnist/sensitivity")
    parser.add_argument("--taskrel", default=os.environ.get("TASKREL_BINARY", "build/src/cli/taskrel"))
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="run only the variants whose name contains one of these")
    parser.add_argument("--table-only", action="store_true", help="print the table of the stored results, run nothing")
    args = parser.parse_args()
    for path in [args.job, args.store, args.accuracy, args.taskrel]:
        if not os.path.exists(path):
            sys.exit(f"sensitivity.py: {path} does not exist")
    os.makedirs(args.out, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    with open(args.job) as f:
        job_text = f.read()

    # Rows of earlier runs (e.g. with --only) are kept; a rerun variant replaces its row.
    rows_path = os.path.join(args.out, "sensitivity.json")
    rows = json.load(open(rows_path)) if os.path.exists(rows_path) else []
    order = [name for name, _ in variants()]
    for name, keys in variants():
        if args.table_only or (args.only and not any(o in name for o in args.only)):
            continue
        slug = re.sub(r"[^A-Za-z0-9.]+", "_", name).strip("_")
        directory = os.path.join(args.out, slug)
        os.makedirs(directory, exist_ok=True)
        job = os.path.join(directory, "job.toml")
        with open(job, "w") as f:
            # The baselines do not depend on these keys: leave them out.
            f.write(with_relate_keys(job_text, dict(keys, metrics='"none"')))
        started = time.time()
        print(f"== {name}: taskrel matrix -> {directory}", flush=True)
        subprocess.run(["mpiexec", "-n", str(args.ranks), args.taskrel, "matrix", job, "--store", args.store,
                        "--output", os.path.join(directory, "matrix"), "--quiet"], check=True, env=env)
        seconds = time.time() - started
        result = subprocess.run([args.taskrel, "correlate", "--scores", os.path.join(directory, "matrix",
                                 "relatedness.csv"), "--accuracy", args.accuracy, "--columns", ",".join(TERMS),
                                 "--bootstrap", "0", "--json", "--quiet"],
                                check=True, env=env, capture_output=True, text=True)
        report = json.loads(result.stdout)
        row = {"variant": name, "seconds": round(seconds, 1)}
        for term in TERMS:
            for statistic in ["pearson", "spearman"]:
                row[f"{term}_{statistic}"] = report["mean"][term][statistic]
        rows = [r for r in rows if r["variant"] != name] + [row]
        rows.sort(key=lambda r: order.index(r["variant"]) if r["variant"] in order else len(order))
        with open(rows_path, "w") as f:
            json.dump(rows, f, indent=1)

    def cell(value):
        return "n/a" if value is None else f"{value:+.3f}"

    lines = ["Mean correlation across targets with fine-tuned accuracy (Pearson / Spearman across encoders; "
             "lower is better for every column, so negative is good)", "",
             "| variant | " + " | ".join(TERM_LABELS[t] for t in TERMS) + " | matrix time |",
             "| --- |" + " --- |" * (len(TERMS) + 1)]
    for row in rows:
        lines.append(f"| {row['variant']} | " + " | ".join(
            f"{cell(row[t + '_pearson'])} / {cell(row[t + '_spearman'])}" for t in TERMS) + f" | {row['seconds']} s |")
    table = "\n".join(lines)
    with open(os.path.join(args.out, "sensitivity.md"), "w") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
