"""Figures for Varma et al.'s critical dataset size: the two circuits' norms against dataset size, and the
from-scratch runs' accuracy and time to generalise against size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from grokrepro.figures.common import plt, sns
from grokrepro.metrics import first_step_reaching
from grokrepro.metrics.sizes import final_values

FIGURES = ("norm_vs_size", "scratch_vs_size")


def _labelled(curves: xr.Dataset) -> pd.DataFrame:
    return pd.DataFrame({
        "train_size": curves["train_size"].values.astype(float),
        "labels": curves["labels"].values,
        "seed": curves["seed"].values,
        "norm": final_values(curves["param_norm"].values),
        "test_acc": final_values(curves["test_acc"].values),
        "fourier_share": final_values(curves["fourier_share"].values) if "fourier_share" in curves else np.nan,
    })


def norm_vs_size(curves: xr.Dataset, verdict: dict):
    table = _labelled(curves)
    table["circuit"] = np.where(table["labels"] == "random", "memorisation (random labels)",
                                np.where(table["test_acc"] >= 0.95, "generalisation (true labels, grokked)",
                                         "true labels, not generalised"))
    figure, axis = plt.subplots(figsize=(5.6, 3.8))
    sns.lineplot(data=table, x="train_size", y="norm", hue="circuit", estimator="median", errorbar=("pi", 100),
                 marker="o", ax=axis)
    crossing = next((c for c in verdict.get("checks", []) if c.get("name") == "C3"), None)
    if crossing and isinstance(crossing.get("value"), (int, float)):
        low, high = crossing.get("interval") or [None, None]
        axis.axvline(crossing["value"], color="black", linestyle="--", label=f"D_crit {crossing['value']:.0f}")
        if isinstance(low, (int, float)) and isinstance(high, (int, float)):
            axis.axvspan(low, high, color="grey", alpha=0.2, label="interval over seeds")
    axis.set(xscale="log", xlabel="training pairs D (log)", ylabel="parameter norm at the end",
             title="Norm each circuit settles at under weight decay")
    axis.legend(fontsize=7)
    return figure


def scratch_vs_size(curves: xr.Dataset, verdict: dict):
    true = curves.isel(run=np.nonzero(curves["labels"].values == "true")[0])
    t_gen = first_step_reaching(true["test_acc"].values, true["step"].values, 0.95)
    budget = true["budget_steps"].values
    table = pd.DataFrame({"train_size": true["train_size"].values.astype(float),
                          "final test acc": final_values(true["test_acc"].values),
                          "t_gen": np.where(np.isfinite(t_gen), t_gen, budget),
                          "censored": ~np.isfinite(t_gen)})
    figure, (left, right) = plt.subplots(1, 2, figsize=(8.5, 3.4))
    sns.lineplot(data=table, x="train_size", y="final test acc", estimator="median", errorbar=("pi", 100),
                 marker="o", ax=left)
    left.axhline(0.5, color="grey", linestyle=":")
    left.set(xscale="log", xlabel="training pairs D (log)", title="From scratch: final test accuracy")
    sns.scatterplot(data=table, x="train_size", y="t_gen", style="censored", markers={False: "o", True: "^"},
                    ax=right)
    right.set(xscale="log", yscale="log", xlabel="training pairs D (log)", ylabel="t_gen (test acc >= 0.95)",
              title="Time to generalise (triangles: censored at budget)")
    figure.tight_layout()
    return figure


DRAW = {"norm_vs_size": norm_vs_size, "scratch_vs_size": scratch_vs_size}
