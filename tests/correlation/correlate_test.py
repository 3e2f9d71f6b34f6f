"""End-to-end tests of `taskrel correlate` on synthetic CSV pairs.

  Statistics  every coefficient of every (target, column) cell equals
              scipy.stats (pearsonr, spearmanr, kendalltau, weightedtau) to
              1e-12 on random data with ties; constant columns give null;
              relative top-1 and the mean row recomputed with pandas.
  Bootstrap   the same seed gives the same intervals, another seed others;
              on a strong correlation the interval holds the point estimate.
  Layout      two references (labels ref->target), a reference column in
              finetune.csv, failed rows skipped with a warning, --by none,
              the table (directions, mean row), --output .json/.csv.
  Errors      mismatched keys (listed, both files named), a bad value (line
              and column), a missing column, a duplicate key, a missing file:
              exit 2 and nothing written.
"""
import json
import os
import subprocess
import tempfile
import unittest

import numpy as np
import pandas as pd
from scipy import stats

BINARY = os.environ["TASKREL_BINARY"]
MPIEXEC = os.environ.get("TASKREL_MPIEXEC", "mpiexec")
AUTO = ["relatedness", "reweighted_loss", "label_mismatch", "tau_distribution_mismatch", "distribution_mismatch"]
METRICS = ["metrics_logme", "metrics_leep", "metrics_nce"]
TOL = 1e-12


def correlate(*args, check=True):
    run = subprocess.run([BINARY, "correlate", *args], capture_output=True, text=True, timeout=60)
    if check and run.returncode != 0:
        raise AssertionError(f"exit {run.returncode}\n{run.stdout}\n{run.stderr}")
    return run


def synthetic(rng, targets, references=("imagenet",), ties=True, constant=None):
    """A relatedness.csv-like frame (matrix's columns) and a finetune frame."""
    rows, accuracy = [], []
    for target in targets:
        n = int(rng.integers(3, 26))
        encoders = [f"enc{k:02d}" for k in rng.choice(40, size=n, replace=False)]
        acc = rng.random(n)
        if ties:
            acc = np.round(acc, 1)  # many tied accuracies
        for e, a in zip(encoders, acc):
            accuracy.append({"encoder": e, "target": target, "accuracy": a})
        for reference in references:
            noise = rng.normal(size=(len(AUTO) + len(METRICS), n))
            for i, e in enumerate(encoders):
                row = {"encoder": e, "reference": reference, "target": target, "status": "ok", "error": "",
                       "options_setting": "learned-all", "tau": 0.1}
                for c, name in enumerate(AUTO + METRICS):
                    sign = -1 if name in AUTO else 1
                    value = sign * acc[i] + noise[c, i]
                    row[name] = np.round(value, 1) if ties and c % 2 == 0 else value
                if constant is not None and target == constant:
                    row["metrics_nce"] = 1.5
                rows.append(row)
    return pd.DataFrame(rows), pd.DataFrame(accuracy)


def scipy_statistics(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.all(x == x[0]) or np.all(y == y[0]):
        return dict(pearson=None, spearman=None, kendall=None, weighted_tau=None)
    return dict(pearson=stats.pearsonr(x, y)[0], spearman=stats.spearmanr(x, y)[0],
                kendall=stats.kendalltau(x, y)[0], weighted_tau=stats.weightedtau(x, y)[0])


class CorrelateTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, scores, accuracy):
        s, a = os.path.join(self.dir, "relatedness.csv"), os.path.join(self.dir, "finetune.csv")
        scores.to_csv(s, index=False)
        accuracy.to_csv(a, index=False)
        return s, a

    def test_statistics_match_scipy(self):
        rng = np.random.default_rng(11)
        targets = [f"task{t}" for t in range(14)]
        scores, accuracy = synthetic(rng, targets, constant="task3")
        s, a = self.write(scores, accuracy)
        result = json.loads(correlate("--scores", s, "--accuracy", a, "--json", "--bootstrap", "0").stdout)
        self.assertEqual([c["name"] for c in result["columns"]], AUTO + METRICS)
        self.assertEqual([c["direction"] for c in result["columns"]], ["lower"] * 5 + ["higher"] * 3)
        self.assertEqual(sorted(g["label"] for g in result["groups"]), sorted(targets))
        merged = scores.merge(accuracy, on=["encoder", "target"])
        per_stat = {}
        checked = 0
        for group in result["groups"]:
            part = merged[merged.target == group["target"]].sort_values("encoder")
            self.assertEqual(group["encoders"], list(part.encoder))
            self.assertEqual(group["n_encoders"], len(part))
            for name in AUTO + METRICS:
                cell = group["columns"][name]
                expected = scipy_statistics(part[name], part.accuracy)
                for stat, value in expected.items():
                    got = cell[stat]["value"]
                    if value is None:
                        self.assertIsNone(got, f"{group['label']} {name} {stat}")
                    else:
                        self.assertAlmostEqual(got, value, delta=TOL, msg=f"{group['label']} {name} {stat}")
                        checked += 1
                    per_stat.setdefault((name, stat), []).append(value)
                # Relative top-1 by hand: the pick (first encoder in name order on ties) over the best.
                column = part[name].to_numpy()
                pick = np.argmin(column) if name in AUTO else np.argmax(column)
                self.assertEqual(cell["selected_encoder"], part.encoder.iloc[pick])
                self.assertAlmostEqual(cell["relative_top1"]["value"],
                                       part.accuracy.iloc[pick] / part.accuracy.max(), delta=TOL)
                per_stat.setdefault((name, "relative_top1"), []).append(cell["relative_top1"]["value"])
        self.assertGreater(checked, 14 * 8 * 4 - 8)
        self.assertIsNone(next(g for g in result["groups"] if g["target"] == "task3")["columns"]["metrics_nce"]
                          ["pearson"]["value"])
        for (name, stat), values in per_stat.items():
            defined = [v for v in values if v is not None]
            self.assertAlmostEqual(result["mean"][name][stat], np.mean(defined), delta=TOL)
        # Relatedness is built lower-is-better here, so its mean r must come out negative.
        self.assertLess(result["mean"]["relatedness"]["pearson"], 0)
        self.assertGreater(result["mean"]["metrics_logme"]["pearson"], 0)

    def test_weighted_tau_without_ties_and_large_groups(self):
        rng = np.random.default_rng(3)
        scores, accuracy = synthetic(rng, ["a", "b", "c"], ties=False)
        s, a = self.write(scores, accuracy)
        result = json.loads(correlate("--scores", s, "--accuracy", a, "--json", "--bootstrap", "0",
                                      "--columns", "relatedness,metrics_leep").stdout)
        self.assertEqual([c["name"] for c in result["columns"]], ["relatedness", "metrics_leep"])
        merged = scores.merge(accuracy, on=["encoder", "target"])
        for group in result["groups"]:
            part = merged[merged.target == group["target"]].sort_values("encoder")
            for name in ["relatedness", "metrics_leep"]:
                self.assertAlmostEqual(group["columns"][name]["weighted_tau"]["value"],
                                       stats.weightedtau(part[name], part.accuracy)[0], delta=TOL)

    def test_bootstrap_reproducible_and_contains_estimate(self):
        rng = np.random.default_rng(5)
        encoders = [f"e{k}" for k in range(12)]
        acc = np.linspace(0.5, 0.95, 12)
        scores = pd.DataFrame({"encoder": encoders, "reference": "r", "target": "t", "status": "ok", "error": "",
                               "relatedness": -acc * 10 + rng.normal(scale=0.2, size=12)})
        accuracy = pd.DataFrame({"encoder": encoders, "target": "t", "accuracy": acc})
        s, a = self.write(scores, accuracy)
        args = ["--scores", s, "--accuracy", a, "--json", "--bootstrap", "400"]
        first = correlate(*args, "--seed", "3").stdout
        self.assertEqual(first, correlate(*args, "--seed", "3").stdout)
        other = json.loads(correlate(*args, "--seed", "4").stdout)
        first = json.loads(first)
        cell = first["groups"][0]["columns"]["relatedness"]
        self.assertNotEqual(cell["pearson"]["ci"], other["groups"][0]["columns"]["relatedness"]["pearson"]["ci"])
        for stat in ["pearson", "spearman", "kendall", "weighted_tau", "relative_top1"]:
            lower, upper = cell[stat]["ci"]
            self.assertLessEqual(lower, cell[stat]["value"] + TOL, stat)
            self.assertGreaterEqual(upper, cell[stat]["value"] - TOL, stat)
            self.assertEqual(cell[stat]["bootstrap_used"] + cell[stat]["bootstrap_dropped"], 400)
        self.assertLess(cell["pearson"]["value"], -0.95)
        self.assertLess(cell["pearson"]["ci"][1], -0.9)

    def test_mean_row_interval(self):
        rng = np.random.default_rng(9)
        encoders = [f"e{k}" for k in range(10)]
        acc = np.linspace(0.5, 0.95, 10)
        rows = []
        for target in ["t1", "t2"]:
            rows.append(pd.DataFrame({"encoder": encoders, "reference": "r", "target": target, "status": "ok",
                                      "error": "", "relatedness": -acc * 5 + rng.normal(scale=1.0, size=10)}))
        scores = pd.concat(rows)
        accuracy = pd.concat([pd.DataFrame({"encoder": encoders, "target": t, "accuracy": acc}) for t in ["t1", "t2"]])
        # One group: the mean's resamples are that group's, so the intervals are identical.
        s, a = self.write(scores[scores.target == "t1"], accuracy[accuracy.target == "t1"])
        one = json.loads(correlate("--scores", s, "--accuracy", a, "--json", "--bootstrap", "300").stdout)
        for stat in ["pearson", "spearman", "kendall", "weighted_tau", "relative_top1"]:
            self.assertEqual(one["mean_ci"]["relatedness"][stat], one["groups"][0]["columns"]["relatedness"][stat]["ci"])
        # Two groups: the interval holds the mean, is narrower than either group's (averaging two independent
        # resamples), is reproducible, and the CSV output carries it.
        s, a = self.write(scores, accuracy)
        args = ["--scores", s, "--accuracy", a, "--bootstrap", "300", "--seed", "2"]
        two = json.loads(correlate(*args, "--json").stdout)
        self.assertEqual(two["mean_ci"], json.loads(correlate(*args, "--json").stdout)["mean_ci"])
        lower, upper = two["mean_ci"]["relatedness"]["pearson"]
        self.assertLess(lower, two["mean"]["relatedness"]["pearson"])
        self.assertGreater(upper, two["mean"]["relatedness"]["pearson"])
        for group in two["groups"]:
            g_lower, g_upper = group["columns"]["relatedness"]["pearson"]["ci"]
            self.assertLess(upper - lower, g_upper - g_lower)
        out_csv = os.path.join(self.dir, "mean.csv")
        correlate(*args, "--output", out_csv)
        table = pd.read_csv(out_csv)
        row = table[(table.group == "mean") & (table.column == "relatedness") & (table.statistic == "pearson")]
        self.assertAlmostEqual(float(row.ci_lower.iloc[0]), lower, delta=TOL)
        self.assertAlmostEqual(float(row.ci_upper.iloc[0]), upper, delta=TOL)
        table_text = correlate(*args, "--show-ci", "--stat", "pearson", "--wide").stdout
        self.assertIn(f"[{lower:.2f},{upper:.2f}]", table_text.split("\nmean")[1])
        narrow = correlate(*args, "--show-ci", "--stat", "pearson").stdout
        relatedness_line = next(l for l in narrow.splitlines() if l.startswith("relatedness "))
        self.assertIn(f"[{lower:.2f},{upper:.2f}]", relatedness_line)
        none = json.loads(correlate("--scores", s, "--accuracy", a, "--json", "--bootstrap", "0").stdout)
        self.assertEqual(none["mean_ci"]["relatedness"]["pearson"], [None, None])

    def test_references_failed_rows_table_and_outputs(self):
        rng = np.random.default_rng(8)
        scores, accuracy = synthetic(rng, ["cifar", "svhn"], references=("imagenet", "places"))
        # A failed triple with a quoted, comma-holding error and empty values: skipped with a warning.
        failed = scores.index[(scores.reference == "places") & (scores.target == "svhn")][0]
        scores.loc[failed, "status"] = "failed"
        scores.loc[failed, "error"] = 'OT did not converge, "diverged"'
        scores.loc[failed, AUTO + METRICS] = np.nan
        accuracy_ref = pd.concat([accuracy.assign(reference=r) for r in ("imagenet", "places")])
        s, a = self.write(scores, accuracy_ref)
        out_json, out_csv = os.path.join(self.dir, "r.json"), os.path.join(self.dir, "r.csv")
        run = correlate("--scores", s, "--accuracy", a, "--bootstrap", "50", "--output", out_json)
        self.assertIn("skipping the row of (encoder", run.stderr)
        self.assertIn("status failed: OT did not converge", run.stderr)
        for label in ["imagenet->cifar", "imagenet->svhn", "places->cifar", "places->svhn", "mean", "lower",
                      "higher", "relative top-1", "weighted_tau", "metrics_logme"]:
            self.assertIn(label, run.stdout)
        # The default tables fit 100 columns (the target columns wrap into
        # blocks); --wide is the paper's shape, a column per score.
        self.assertLessEqual(max(len(line) for line in run.stdout.splitlines()), 100)
        narrow = correlate("--scores", s, "--accuracy", a, "--bootstrap", "0", "--stat", "kendall", "--width", "60")
        self.assertLessEqual(max(len(line) for line in narrow.stdout.splitlines()[2:]), 60)
        wide = correlate("--scores", s, "--accuracy", a, "--bootstrap", "0", "--stat", "kendall", "--wide").stdout
        self.assertGreater(max(len(line) for line in wide.splitlines()), 100)
        self.assertIn("lower=better", wide)
        values = json.loads(correlate("--scores", s, "--accuracy", a, "--bootstrap", "0", "--json").stdout)
        for method in ["relatedness", "metrics_logme"]:
            cells = [line.split() for line in narrow.stdout.splitlines() if line.startswith(method + " ")]
            printed = [c for cells_line in cells for c in cells_line[2:]]
            expected = [values["mean"][method]["kendall"]] + \
                [g["columns"][method]["kendall"]["value"] for g in values["groups"]]
            self.assertEqual(len(printed), len(expected))
            for text, value in zip(printed, expected):
                self.assertAlmostEqual(float(text), value, delta=6e-4)
        with open(out_json) as f:
            result = json.load(f)
        self.assertEqual(len(result["skipped_rows"]), 1)
        group = next(g for g in result["groups"] if g["label"] == "places->svhn")
        full = next(g for g in result["groups"] if g["label"] == "imagenet->svhn")
        self.assertEqual(group["n_encoders"], full["n_encoders"] - 1)
        correlate("--scores", s, "--accuracy", a, "--bootstrap", "50", "--output", out_csv, "--stat", "pearson")
        table = pd.read_csv(out_csv)
        self.assertEqual(set(table.statistic), {"pearson", "spearman", "kendall", "weighted_tau", "relative_top1"})
        self.assertEqual(len(table), (4 + 1) * 8 * 5)
        row = table[(table.group == "places->svhn") & (table.column == "relatedness") & (table.statistic == "kendall")]
        self.assertAlmostEqual(float(row.value.iloc[0]), group["columns"]["relatedness"]["kendall"]["value"], delta=TOL)
        # --by none pools every row into one group.
        pooled = json.loads(correlate("--scores", s, "--accuracy", a, "--by", "none", "--json", "--bootstrap", "0").stdout)
        self.assertEqual([g["label"] for g in pooled["groups"]], ["all"])
        self.assertEqual(pooled["groups"][0]["n_encoders"], len(scores) - 1)
        ok = scores[scores.status == "ok"].merge(accuracy_ref, on=["encoder", "reference", "target"])
        self.assertAlmostEqual(pooled["groups"][0]["columns"]["relatedness"]["spearman"]["value"],
                               stats.spearmanr(ok.relatedness, ok.accuracy)[0], delta=TOL)

    def test_two_ranks_print_once(self):
        rng = np.random.default_rng(4)
        scores, accuracy = synthetic(rng, ["a", "b"])
        s, a = self.write(scores, accuracy)
        run = subprocess.run([MPIEXEC, "-n", "2", BINARY, "correlate", "--scores", s, "--accuracy", a, "--stat",
                              "kendall", "--bootstrap", "20"], capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout.count("kendall: correlation"), 1)
        self.assertEqual(run.stdout.count("\nrelatedness "), 1)

    def test_too_few_encoders_is_na(self):
        scores = pd.DataFrame({"encoder": ["a", "b"], "reference": "r", "target": "t", "status": "ok",
                               "relatedness": [0.2, 0.1]})
        accuracy = pd.DataFrame({"encoder": ["a", "b"], "target": "t", "accuracy": [0.5, 0.8]})
        s, a = self.write(scores, accuracy)
        run = correlate("--scores", s, "--accuracy", a, "--json")
        cell = json.loads(run.stdout)["groups"][0]["columns"]["relatedness"]
        self.assertIsNone(cell["pearson"]["value"])
        self.assertEqual(cell["relative_top1"]["value"], 1.0)  # picks b, the best
        self.assertIn("fewer than 3", run.stderr)
        self.assertNotIn("NaN", run.stdout)

    def assert_input_error(self, run, *fragments):
        self.assertEqual(run.returncode, 2, run.stdout + run.stderr)
        for fragment in fragments:
            self.assertIn(fragment, run.stderr)
        self.assertEqual(run.stdout, "")

    def test_errors(self):
        rng = np.random.default_rng(1)
        scores, accuracy = synthetic(rng, ["t1", "t2"])
        s, a = self.write(scores, accuracy)
        out = os.path.join(self.dir, "never.json")
        base = ["--scores", s, "--accuracy", a, "--output", out]
        # An output file in a folder that does not exist: named, exit 2, nothing written.
        unwritable = os.path.join(self.dir, "no_such_folder", "r.json")
        self.assert_input_error(correlate("--scores", s, "--accuracy", a, "--output", unwritable, check=False),
                                unwritable, "cannot write")
        # Mismatched keys, both ways, named with both files.
        extra = pd.concat([accuracy.iloc[1:], pd.DataFrame([{"encoder": "ghost", "target": "t1", "accuracy": 0.5}])])
        extra.to_csv(a, index=False)
        missing = accuracy.iloc[0]
        self.assert_input_error(correlate(*base, check=False), "do not match", s, a,
                                f"(encoder {missing.encoder}, target {missing.target})",
                                "(encoder ghost, target t1)")
        # A bad value: file, line, column.
        accuracy.to_csv(a, index=False)
        bad = scores.copy()
        bad["relatedness"] = bad["relatedness"].astype(object)
        bad.loc[4, "relatedness"] = "abc"
        bad.to_csv(s, index=False)
        self.assert_input_error(correlate(*base, check=False), f"{s}: line 6, column 'relatedness': 'abc'")
        bad.loc[4, "relatedness"] = "nan"
        bad.to_csv(s, index=False)
        self.assert_input_error(correlate(*base, check=False), "line 6", "not a finite number")
        # Missing columns.
        scores.drop(columns=["relatedness"]).to_csv(s, index=False)
        self.assert_input_error(correlate(*base, check=False), "missing column 'relatedness'")
        scores.to_csv(s, index=False)
        self.assert_input_error(correlate(*base, "--columns", "metrics_nope", check=False), "missing column 'metrics_nope'")
        accuracy.drop(columns=["accuracy"]).to_csv(a, index=False)
        self.assert_input_error(correlate(*base, check=False), f"{a}: missing column 'accuracy'")
        # A duplicate key in finetune.csv.
        pd.concat([accuracy, accuracy.iloc[:1]]).to_csv(a, index=False)
        self.assert_input_error(correlate(*base, check=False), "duplicate key", f"line {len(accuracy) + 2}")
        # A missing file.
        self.assert_input_error(correlate("--scores", os.path.join(self.dir, "none.csv"), "--accuracy", a,
                                          check=False), "none.csv: cannot open")
        self.assertFalse(os.path.exists(out))
        self.assertEqual([f for f in os.listdir(self.dir) if f.startswith("never")], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
