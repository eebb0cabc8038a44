"""Figures for Power et al.: accuracy curves per training fraction, and event times against the fraction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from grokrepro.claims.verdict import select_runs
from grokrepro.figures.common import long_table, plt, sns
from grokrepro.figures.early_abort import early_abort
from grokrepro.metrics import first_step_reaching

FIGURES = ("accuracy_curves", "time_to_generalise", "early_abort")


def _judged(curves: xr.Dataset, verdict: dict) -> xr.Dataset:
    """The runs G2 judges (other sweep grids, such as the early-abort demonstration, are left out)."""
    where = next((c.get("where", {}) for c in verdict.get("checks", []) if c["name"] == "G2"), {})
    return select_runs(curves, where)


def accuracy_curves(curves: xr.Dataset, verdict: dict):
    curves = _judged(curves, verdict)
    table = long_table(curves, ["train_acc", "test_acc"], ["train_fraction"])
    table = table[table["step"] > 0].dropna(subset=["value"])
    grid = sns.relplot(data=table, x="step", y="value", hue="metric", col="train_fraction", kind="line",
                       errorbar=("pi", 100), col_wrap=min(4, table["train_fraction"].nunique()),
                       height=2.6, aspect=1.1, palette={"train_acc": "tab:blue", "test_acc": "tab:red"})
    grid.set(xscale="log", ylim=(-0.02, 1.02), xlabel="step (log)", ylabel="accuracy")
    grid.figure.suptitle("Train and test accuracy (line: mean over seeds; band: min-max)", y=1.03)
    return grid.figure


def time_to_generalise(curves: xr.Dataset, verdict: dict):
    curves = _judged(curves, verdict)
    steps = curves["step"].values
    t_fit = first_step_reaching(curves["train_acc"].values, steps, 0.99)
    t_gen = first_step_reaching(curves["test_acc"].values, steps, 0.95)
    budget = curves["budget_steps"].values
    rows = []
    for name, times in (("t_fit (train acc >= 0.99)", t_fit), ("t_gen (test acc >= 0.95)", t_gen)):
        for k in range(curves.sizes["run"]):
            censored = not np.isfinite(times[k])
            rows.append({"train_fraction": float(curves["train_fraction"].values[k]), "event": name,
                         "step": float(budget[k] if censored else times[k]), "censored": censored})
    table = pd.DataFrame(rows)
    figure, axis = plt.subplots(figsize=(5, 3.4))
    sns.lineplot(data=table, x="train_fraction", y="step", hue="event", estimator="median", errorbar=None,
                 marker="o", ax=axis)
    censored = table[table["censored"]]
    if len(censored):
        axis.scatter(censored["train_fraction"], censored["step"], marker="^", color="black", zorder=3,
                     label="never reached (censored at budget)")
    axis.set(yscale="log", xlabel="training fraction", ylabel="step (median over seeds)",
             title="Steps to fit and to generalise")
    axis.legend(fontsize=7)
    return figure


DRAW = {"accuracy_curves": accuracy_curves, "time_to_generalise": time_to_generalise, "early_abort": early_abort}
