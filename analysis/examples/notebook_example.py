# %% [markdown]
# # taskrel results in Python
#
# A notebook-style walk through a finished `taskrel matrix` run (cells in the `# %%` format, so it
# opens as a notebook in Jupyter/VS Code with jupytext, and runs as a plain script):
#
#     PYTHONPATH=analysis /usr/bin/python3 analysis/examples/notebook_example.py \
#         --matrix out/fmnist/matrix --finetune out/fmnist/finetune.csv --out out/fmnist/example
#
# 1. load relatedness.h5 as an xarray Dataset and relatedness.csv as a typed DataFrame;
# 2. pivot relatedness to an encoders x targets table for one reference;
# 3. plot one target's relatedness against the encoders' fine-tuned accuracy (finetune.csv:
#    encoder,target[,reference],accuracy) and print the Pearson r.
# Lower relatedness means more transferable, so a useful score gives r < 0.

# %%
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only: runs without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # analysis/, for taskrel_py
from taskrel_py.results import load_matrix, load_results, load_transforms  # noqa: E402

parser = argparse.ArgumentParser(description="taskrel results in Python: load, pivot, plot")
parser.add_argument("--matrix", default="out/fmnist/matrix", help="folder with relatedness.h5 and relatedness.csv")
parser.add_argument("--finetune", default="out/fmnist/finetune.csv", help="encoder,target[,reference],accuracy")
parser.add_argument("--reference", help="default: the first reference of the matrix")
parser.add_argument("--target", help="default: the target with the most finished encoders")
parser.add_argument("--out", default="out/example", help="where the figure goes")
args, _ = parser.parse_known_args()  # parse_known_args: a notebook kernel adds its own arguments

# %% [markdown]
# ## Load
# `load_matrix` gives dims (encoder, reference, target), one variable per quantity, NaN where a
# triple is not done, and the `done` / `failed` masks. `load_results` gives the CSV with dtypes.

# %%
matrix = load_matrix(os.path.join(args.matrix, "relatedness.h5"))
results = load_results(os.path.join(args.matrix, "relatedness.csv"))
print(f"{matrix.sizes['encoder']} encoders x {matrix.sizes['reference']} references x "
      f"{matrix.sizes['target']} targets; {int(matrix.done.sum())} triples done, {int(matrix.failed.sum())} failed")
print(results.groupby("status").size().to_string())

# %% [markdown]
# ## Encoders x targets for one reference

# %%
reference = args.reference or str(matrix.reference.values[0])
table = matrix.relatedness.sel(reference=reference).to_pandas()  # rows: encoders, columns: targets
table = table.dropna(axis=1, how="all")  # the reference itself as a target (no self pairs) and empty targets
print(f"\nrelatedness, reference {reference} (lower = more transferable):")
print(table.round(4).to_string())
# The same table from the CSV (pivot_table drops failed rows, whose relatedness is NaN):
from_csv = results[results.reference == reference].pivot_table(index="encoder", columns="target",
                                                               values="relatedness", observed=True)
assert np.allclose(from_csv.loc[table.index, table.columns].values, table.values, equal_nan=True)

# Which term drives a cell, and the fitted label map B of one triple:
encoder, target = table.stack().idxmin()
cell = matrix.sel(encoder=encoder, reference=reference, target=target)
print(f"\nmost related: {encoder} on {target}: relatedness {float(cell.relatedness):.4f} = "
      f"RW {float(cell.reweighted_loss):.4f} + H {float(cell.label_mismatch):.4f} + "
      f"tau W_d {float(cell.tau * cell.distribution_mismatch):.4f}")
B = load_transforms(os.path.join(args.matrix, "relatedness.h5"))[(encoder, reference, target)].B
print(f"B (P(target class | reference class)), {B.shape[0]} x {B.shape[1]}:\n{np.round(B, 3)}")

# %% [markdown]
# ## One target against fine-tuned accuracy

# %%
accuracy = pd.read_csv(args.finetune)
if "reference" in accuracy.columns:
    accuracy = accuracy[accuracy.reference == reference]
target = args.target or table.count().idxmax()
scores = table[target].dropna().rename("relatedness").reset_index()
merged = scores.merge(accuracy[accuracy.target == target][["encoder", "accuracy"]], on="encoder")
r = merged.relatedness.corr(merged.accuracy) if len(merged) >= 3 else float("nan")
print(f"\ntarget {target}: Pearson r(relatedness, fine-tuned accuracy) = {r:.3f} over {len(merged)} encoders")

fig, ax = plt.subplots(figsize=(4.5, 3.5))
ax.scatter(merged.relatedness, merged.accuracy)
for row in merged.itertuples():
    ax.annotate(row.encoder, (row.relatedness, row.accuracy), fontsize=7, xytext=(3, 3), textcoords="offset points")
ax.set_xlabel(f"relatedness ({reference} -> {target})")
ax.set_ylabel("fine-tuned accuracy")
ax.set_title(f"{target}: r = {r:.2f}")
fig.tight_layout()
os.makedirs(args.out, exist_ok=True)
figure = os.path.join(args.out, f"relatedness_vs_accuracy_{target}.png")
fig.savefig(figure, dpi=120)
print(f"figure: {figure}")
