"""Figures for Kumar et al.: the Fig. 1 run with its loss decomposition, the amount of grokking over α × ε,
eNTK-label alignment over training, and the Goldilocks training-set sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from grokrepro.claims.lazy_to_rich import AlphaParams, amount_of_grokking, linearised_peak, loss_times
from grokrepro.claims.verdict import select_runs
from grokrepro.figures.common import judged_params, judged_where, plt, sns

FIGURES = ("grokking_curve", "phase_diagram", "alignment", "goldilocks")
TERMS = {"variance_error": "variance error", "misalignment": "misalignment", "linear_power": "linear power"}


# The check kinds whose runs the figures draw: L1 (amount of grokking over alpha), L2 (the lazy phase), L4.
ALPHA, TRACKING, GOLDILOCKS = "grokking_rises_with_alpha", "lazy_phase_tracks_linearised", "goldilocks_dataset_size"


def _runs(curves: xr.Dataset, verdict: dict, kind: str) -> xr.Dataset:
    return select_runs(curves, judged_where(verdict, kind))


def _threshold(curves: xr.Dataset, verdict: dict) -> float:
    """The relative loss threshold of the event times, as L1 was judged with."""
    return judged_params(verdict, curves, ALPHA, AlphaParams).relative_threshold


def _positive_steps(run: xr.Dataset, name: str) -> tuple[np.ndarray, np.ndarray]:
    steps, values = run["step"].values, run[name].values
    keep = (steps > 0) & np.isfinite(values)
    return steps[keep], values[keep]


def grokking_curve(curves: xr.Dataset, verdict: dict):
    """Fig. 1: train and test loss of the L2 run (first seed) against its linearised network's and the
    initial-kernel regression loss (the linearised network's end point), and the exact population loss split into
    its three terms."""
    runs = _runs(curves, verdict, TRACKING)
    run = runs.isel(run=0)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), sharex=True)
    for name, color, style in (("train_loss", "tab:blue", "--"), ("test_loss", "tab:blue", "-")):
        left.plot(*_positive_steps(run, name), color=color, linestyle=style, label=name.replace("_", " "))
    # Fig. 1(b)'s comparison: the linearised network trained alongside (green), whose end is the kernel line
    t_lin = np.nan
    if "linearised_test_loss" in run:
        for name, style in (("linearised_train_loss", "--"), ("linearised_test_loss", "-")):
            left.plot(*_positive_steps(run, name), color="tab:green", linestyle=style, lw=3, alpha=0.5, zorder=1,
                      label=name.replace("_", " ").replace("linearised", "linearised network,"))
        t_lin = linearised_peak(runs, 0)
    kernel = run["kernel_test_loss"].values
    if np.isfinite(kernel[0]):
        left.axhline(kernel[0], color="black", label="kernel regression, initial eNTK")
    t_train, t_test = loss_times(runs.isel(run=[0]), _threshold(curves, verdict))
    for time, label in ((t_lin, "t_lin"), (t_train[0], "t_train"), (t_test[0], "t_test")):
        if np.isfinite(time):
            left.axvline(time, color="grey", linestyle=":")
            left.annotate(label, (time, left.get_ylim()[1]), fontsize=7, rotation=90, va="top")
    left.set(xscale="log", yscale="log", xlabel="step (log)", ylabel="MSE",
             title=f"alpha {float(run['alpha']):g}, eps {float(run['epsilon']):g}, P {int(run['n_train'])}, "
                   f"seed {int(run['seed'])}")
    left.legend(fontsize=7)
    right.plot(*_positive_steps(run, "population_loss"), color="darkorange", label="population loss (sum)")
    for (name, label), color in zip(TERMS.items(), ("tab:red", "tab:green", "black")):
        right.plot(*_positive_steps(run, name), color=color, linestyle="--", label=label)
    right.plot(*_positive_steps(run, "test_loss"), color="tab:blue", alpha=0.4, label="test loss (sample)")
    right.set(xscale="log", yscale="log", xlabel="step (log)", title="Exact decomposition of the population loss")
    right.legend(fontsize=7)
    return figure


def phase_diagram(curves: xr.Dataset, verdict: dict):
    """Fig. 3e: median amount of grokking over seeds for every (α, ε) of the L1 training-set size."""
    where = {k: v for k, v in judged_where(verdict, ALPHA).items() if k != "epsilon"}
    runs = select_runs(curves, where)
    amount = amount_of_grokking(*loss_times(runs, _threshold(curves, verdict)))
    budget = float(runs["budget_steps"].values.max())
    table = pd.DataFrame({"alpha": runs["alpha"].values.astype(float), "epsilon": runs["epsilon"].values.astype(float),
                          "amount": np.where(np.isinf(amount), np.nan, amount), "never": np.isinf(amount)})
    grid = table.groupby(["alpha", "epsilon"]).agg(amount=("amount", "median"), never=("never", "mean"))
    amounts = grid["amount"].unstack("epsilon").sort_index(ascending=False)
    never = grid["never"].unstack("epsilon").sort_index(ascending=False)
    labels = amounts.copy().astype(object)
    for i in range(amounts.shape[0]):
        for j in range(amounts.shape[1]):
            share = never.iloc[i, j]
            labels.iloc[i, j] = ("" if np.isnan(share) else "never" if share > 0.5
                                 else f"{amounts.iloc[i, j]:.0f}")
    # a cell where most seeds never generalise is drawn at the budget (the most grokking the budget can show)
    shown = amounts.astype(float).where(~(never > 0.5), budget)
    figure, axis = plt.subplots(figsize=(1.6 + 1.1 * amounts.shape[1], 3.8))
    sns.heatmap(shown, annot=labels.values, fmt="", cmap="OrRd", vmin=0, vmax=budget, ax=axis,
                cbar_kws={"label": "amount of grokking (steps)"}, mask=never.isna())
    axis.set(xlabel="epsilon (initial kernel alignment)", ylabel="alpha (laziness)",
             title=f"Amount of grokking, median over seeds ('never': test threshold not reached in {budget:g} steps)")
    axis.title.set_fontsize(8)
    return figure


def alignment(curves: xr.Dataset, verdict: dict):
    """eNTK-label alignment on the test set over training, one line per α (L1's runs), with t_test marked."""
    runs = _runs(curves, verdict, ALPHA)
    _, t_test = loss_times(runs, _threshold(curves, verdict))
    rows = []
    for k in range(runs.sizes["run"]):
        steps, values = _positive_steps(runs.isel(run=k), "ntk_alignment")
        rows += [{"step": s, "alignment": v, "alpha": float(runs["alpha"].values[k]),
                  "seed": int(runs["seed"].values[k])} for s, v in zip(steps, values)]
    figure, axis = plt.subplots(figsize=(6, 3.8))
    if rows:
        sns.lineplot(data=pd.DataFrame(rows), x="step", y="alignment", hue="alpha", units="seed", estimator=None,
                     palette="viridis", ax=axis, lw=1)
    for k in np.nonzero(np.isfinite(t_test))[0]:
        value = np.interp(t_test[k], *_positive_steps(runs.isel(run=k), "ntk_alignment"))
        axis.scatter([t_test[k]], [value], color="black", s=10, zorder=3)
    axis.set(xscale="log", yscale="log", xlabel="step (log)", ylabel="centred eNTK-label alignment (test set)",
             title="Alignment over training (dots: t_test of each run)")
    return figure


def goldilocks(curves: xr.Dataset, verdict: dict):
    """Fig. 9: train (solid) and test (dashed) loss, relative to their initial values, for each training-set size."""
    runs = _runs(curves, verdict, GOLDILOCKS)
    rows = []
    for k in range(runs.sizes["run"]):
        run = runs.isel(run=k)
        for name, label in (("train_loss", "train"), ("test_loss", "test")):
            steps, values = _positive_steps(run, name)
            rows += [{"step": s, "relative loss": v / float(run[name].values[0]), "loss": label,
                      "P": int(run["n_train"]), "seed": int(run["seed"])} for s, v in zip(steps, values)]
    table = pd.DataFrame(rows)
    figure, axis = plt.subplots(figsize=(6, 3.8))
    sns.lineplot(data=table, x="step", y="relative loss", hue="P", style="loss", units="seed", estimator=None,
                 palette="viridis", ax=axis, lw=1)
    axis.axhline(_threshold(curves, verdict), color="grey", linestyle=":")
    axis.set(xscale="log", yscale="log", xlabel="step (log)", ylabel="loss / initial loss",
             title="Goldilocks training-set sizes (dotted: the 10 % threshold)")
    return figure


DRAW = {"grokking_curve": grokking_curve, "phase_diagram": phase_diagram, "alignment": alignment,
        "goldilocks": goldilocks}
