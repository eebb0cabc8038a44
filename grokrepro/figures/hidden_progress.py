"""Figures for Barak et al. 2022: the steps to learn a k-sparse parity against n on log axes with the fitted power
law (their Fig. 1 right, Fig. 2 right), and the hidden progress measure over training beside the test accuracy
(their Fig. 3, 13: the relevant weights grow while the accuracy is flat), the shuffled-label control beside it."""

from __future__ import annotations

import numpy as np
import xarray as xr

from grokrepro.claims.hidden_progress import HiddenParams, ScalingParams, fitted_slope, median_times
from grokrepro.claims.verdict import healthy_runs
from grokrepro.figures.common import describe, plt, spec_check_params
from grokrepro.metrics import first_step_reaching

FIGURES = ("learning_time_vs_n", "hidden_progress_over_steps")


def _noise_arms(runs: xr.Dataset) -> list[float]:
    return sorted(set(runs["label_noise"].values.tolist())) if "label_noise" in runs.coords else [0.0]


def _arm(runs: xr.Dataset, noise: float) -> xr.Dataset:
    if "label_noise" not in runs.coords:
        return runs
    return runs.isel(run=np.nonzero(np.isclose(runs["label_noise"].values, noise))[0])


def learning_time_vs_n(curves: xr.Dataset, verdict):
    params = spec_check_params(curves, "learning_time_scaling", ScalingParams)
    runs, _ = healthy_runs(curves)
    figure, axis = plt.subplots(figsize=(5.2, 3.8))
    steps = runs["step"].values
    lines = []
    for noise, colour in zip(_noise_arms(runs), ("tab:blue", "tab:red", "tab:green")):
        arm = _arm(runs, noise)
        t = first_step_reaching(arm["test_acc"].values, steps, params.learn_acc)
        n = arm[params.axis].values.astype(float)
        learned = np.isfinite(t)
        label = f"label noise {noise:g}"
        axis.scatter(n[learned], t[learned], color=colour, alpha=0.5, s=18, label=f"{label}: one run")
        if (~learned).any():  # never learned: drawn at the budget, open markers
            axis.scatter(n[~learned], np.full((~learned).sum(), float(steps[-1])), facecolors="none",
                         edgecolors=colour, marker="^", s=30, label=f"{label}: never learns (at the budget)")
        sizes = np.unique(n)
        medians = median_times(n, t, sizes)
        known = np.isfinite(medians)
        if known.sum() >= 2:
            slope = fitted_slope(sizes[known], medians[known])
            intercept = np.mean(np.log(medians[known]) - slope * np.log(sizes[known]))
            axis.plot(sizes[known], medians[known], "o", color=colour, markersize=7)
            grid = np.geomspace(sizes[known].min(), sizes[known].max(), 20)
            axis.plot(grid, np.exp(intercept) * grid ** slope, "--", color=colour,
                      label=f"{label}: median, fit t ∝ n^{slope:.2f}")
            lines.append(f"{label}: slope {slope:.3g} over n = {', '.join(f'{s:g}' for s in sizes[known])}, "
                         f"medians {', '.join(f'{m:g}' for m in medians[known])}")
        else:
            lines.append(f"{label}: {int(known.sum())} sizes whose median run learns")
    axis.set(xscale="log", yscale="log", xlabel=f"n ({params.axis})",
             ylabel=f"t_learn: steps to test acc {params.learn_acc:g}")
    axis.legend(fontsize=7)
    figure.suptitle("Steps to learn a sparse parity against n (log axes), one point per run", fontsize=9)
    figure.tight_layout()
    return describe(figure, "; ".join(lines))


def hidden_progress_over_steps(curves: xr.Dataset, verdict):
    params = spec_check_params(curves, "hidden_progress_rises", HiddenParams)
    runs, _ = healthy_runs(curves)
    arms = _noise_arms(runs)
    figure, axes = plt.subplots(2, len(arms), figsize=(4.8 * len(arms), 5.6), squeeze=False, sharex="col",
                                sharey="row")
    steps = runs["step"].values
    sizes = sorted(set(runs["n_bits"].values.tolist())) if "n_bits" in runs.coords else [None]
    palette = dict(zip(sizes, plt.get_cmap("viridis")(np.linspace(0, 0.9, len(sizes)))))
    for column, noise in enumerate(arms):
        arm = _arm(runs, noise)
        top, bottom = axes[0, column], axes[1, column]
        for r in range(arm.sizes["run"]):
            n = arm["n_bits"].values[r].item() if "n_bits" in arm.coords else None
            first = r == 0 or arm["n_bits"].values[r - 1] != arm["n_bits"].values[r]
            colour = palette[n]
            if params.measure in arm:
                values = arm[params.measure].values[r]
                chance = float(arm["k"].values[r]) / float(n) if n else 1.0
                keep = ~np.isnan(values)
                top.plot(steps[keep], values[keep] / chance, color=colour, alpha=0.8, linewidth=1,
                         label=f"n {n:g}" if first else None)
            bottom.plot(steps, arm["test_acc"].values[r], color=colour, alpha=0.8, linewidth=1,
                        label=f"n {n:g}" if first else None)
        top.axhline(1.0, color="grey", linestyle=":", linewidth=1, label="chance k/n")
        top.axhline(params.min_over_chance, color="grey", linestyle="--", linewidth=1,
                    label=f"H2: {params.min_over_chance:g}x chance")
        bottom.axhline(params.chance_acc, color="grey", linestyle="--", linewidth=1,
                       label=f"H2 window ends: test acc {params.chance_acc:g}")
        # a log share axis: the rise from k/n during the plateau stays visible beside the jump at learning
        top.set(yscale="log", ylabel=f"{params.measure.replace('_', ' ')} / (k/n)", title=f"label noise {noise:g}")
        bottom.set(ylim=(0.4, 1.02), xlabel="step", ylabel="test accuracy")
        top.legend(fontsize=7, loc="lower right")
        bottom.legend(fontsize=7, loc="center right")
    figure.suptitle("Hidden progress: the relevant bits' share of the first layer's movement (over its chance "
                    "level k/n) rises while the test accuracy is flat; one line per run", fontsize=9, y=1.0)
    figure.tight_layout()
    return describe(figure, f"{params.measure} over k/n and test accuracy per run, columns by label noise "
                            f"{', '.join(f'{a:g}' for a in arms)}")


DRAW = {"learning_time_vs_n": learning_time_vs_n, "hidden_progress_over_steps": hidden_progress_over_steps}
