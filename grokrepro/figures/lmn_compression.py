"""Figures for Liu et al.: LMN and test loss over training; test loss against LMN and against the L2 norm in
the compression window; the XOR LMN curve."""

from __future__ import annotations

import numpy as np
import xarray as xr

from grokrepro.claims.verdict import select_runs
from grokrepro.figures.common import plt
from grokrepro.metrics import first_step_reaching

FIGURES = ("lmn_and_test_loss", "lmn_vs_test_loss", "xor_lmn")


def _labels(curves: xr.Dataset) -> list[str]:
    task = curves["task"].values if "task" in curves.coords else np.full(curves.sizes["run"], "task")
    return [f"{t}, wd {w:g}" for t, w in zip(task, curves["weight_decay"].values)]


def lmn_and_test_loss(curves: xr.Dataset, verdict: dict):
    labels = _labels(curves)
    panels = sorted(set(labels))
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for axis, panel in zip(axes[0], panels):
        twin = axis.twinx()
        for k in [k for k, label in enumerate(labels) if label == panel]:
            lmn = curves["lmn"].values[k]
            keep = np.isfinite(lmn)
            axis.plot(curves["step"].values[keep], lmn[keep], color="tab:purple", alpha=0.8)
            twin.plot(curves["step"].values, curves["test_loss"].values[k], color="tab:red", alpha=0.5)
        axis.set(title=panel, xlabel="step", ylabel="LMN (purple)")
        twin.set(ylabel="test loss (red)", yscale="log")
    figure.suptitle("LMN and test loss over training (one line per seed)", y=1.02)
    figure.tight_layout()
    return figure


def lmn_vs_test_loss(curves: xr.Dataset, verdict: dict):
    steps = curves["step"].values
    t_fit = first_step_reaching(curves["train_acc"].values, steps, 0.99)
    t_gen = first_step_reaching(curves["test_acc"].values, steps, 0.95)
    where = next((c["where"] for c in verdict["checks"] if c["name"] == "M2"), {})
    chosen = set(select_runs(curves, where)["run"].values)
    figure, axes = plt.subplots(1, 2, figsize=(8.5, 3.4))
    for axis, (name, label) in zip(axes, (("lmn", "LMN"), ("param_norm", "L2 norm of parameters"))):
        xs, ys = [], []
        for k in range(curves.sizes["run"]):
            if curves["run"].values[k] not in chosen:
                continue
            lmn = curves["lmn"].values[k]
            inside = np.isfinite(lmn) & (steps >= t_fit[k]) & (steps <= t_gen[k])
            x, y = curves[name].values[k][inside], curves["test_loss"].values[k][inside]
            axis.scatter(x, y, s=8, alpha=0.6, label=f"seed {int(curves['seed'].values[k])}")
            xs.append(x)
            ys.append(y)
        if xs and len(np.concatenate(xs)) > 1:
            x, y = np.concatenate(xs), np.concatenate(ys)
            slope, intercept = np.polyfit(x, y, 1)
            grid = np.linspace(x.min(), x.max(), 50)
            rms = np.sqrt(np.mean((y - (slope * x + intercept)) ** 2))
            axis.plot(grid, slope * grid + intercept, color="black", label=f"linear fit, residual RMS {rms:.3g}")
        axis.set(xlabel=label, ylabel="test loss", title=f"test loss vs {label} in [t_fit, t_gen]")
        axis.legend(fontsize=6)
    figure.tight_layout()
    return figure


def xor_lmn(curves: xr.Dataset, verdict: dict):
    figure, axis = plt.subplots(figsize=(5.5, 3.4))
    task = curves["task"].values if "task" in curves.coords else np.array([])
    shown = False
    for k in np.nonzero(task == "xor")[0]:
        lmn = curves["lmn"].values[k]
        keep = np.isfinite(lmn)
        axis.plot(curves["step"].values[keep], lmn[keep], label=f"seed {int(curves['seed'].values[k])}")
        t_gen = first_step_reaching(curves["test_acc"].values[k][None], curves["step"].values, 0.95)[0]
        if np.isfinite(t_gen):
            axis.axvline(t_gen, color="grey", lw=0.8, ls="--")
        shown = True
    axis.set(xlabel="step", ylabel="LMN", title="5-bit XOR: LMN (dashed: t_gen per seed)")
    if shown:
        axis.legend(fontsize=7)
    else:
        axis.text(0.5, 0.5, "no XOR runs at this scale", ha="center", transform=axis.transAxes)
    return figure


DRAW = {"lmn_and_test_loss": lmn_and_test_loss, "lmn_vs_test_loss": lmn_vs_test_loss, "xor_lmn": xor_lmn}
