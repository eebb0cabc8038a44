"""Figures for Liu et al.: LMN and test loss over training; per seed, test loss against LMN and against the L2
norm in the compression window with each seed's linear fits and their residual ratio; the XOR LMN curve."""

from __future__ import annotations

import numpy as np
import xarray as xr

from grokrepro.claims.lmn_compression import NrmseParams, RatioParams, _window
from grokrepro.claims.verdict import healthy_runs, select_runs
from grokrepro.figures.common import judged_check, plt, spec_check, spec_check_params
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


def _m2_where(curves: xr.Dataset, verdict: dict) -> dict:
    record = judged_check(verdict, "linear_fit_per_seed")
    if record is not None:
        return dict(record.where)
    return (spec_check(curves, "linear_fit_per_seed") or {}).get("where", {})


def lmn_vs_test_loss(curves: xr.Dataset, verdict: dict):
    """Per seed, in [t_fit, t_gen]: test loss against LMN and against the L2 norm, each seed with its own
    linear fit (M2a reads the LMN fit's residual over the loss range, M2b the ratio of the two residuals)."""
    params = spec_check_params(curves, "linear_fit_per_seed", NrmseParams)
    ratio_params = spec_check_params(curves, "more_linear_than_reference", RatioParams)
    runs, _ = healthy_runs(select_runs(curves, _m2_where(curves, verdict)))
    windows, _ = _window(runs, params)
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    ratios, labels = [], []
    for seed, points in zip(runs["seed"].values, windows):
        finite = np.isfinite(points["test_loss"])
        if finite.sum() < 3:
            continue
        y = points["test_loss"][finite]
        residuals = []
        for axis, name in zip(axes[:2], ("lmn", "param_norm")):
            x = points[name][finite]
            slope, intercept = np.polyfit(x, y, 1)
            rms = float(np.sqrt(np.mean((y - (slope * x + intercept)) ** 2)))
            residuals.append(rms)
            dots = axis.scatter(x, y, s=7, alpha=0.6)
            grid = np.linspace(x.min(), x.max(), 20)
            axis.plot(grid, slope * grid + intercept, color=dots.get_facecolor()[0], lw=1,
                      label=f"seed {int(seed)}: residual {rms / np.ptp(y):.3f} x range")
        ratios.append(residuals[0] / residuals[1] if residuals[1] > 0 else np.inf)
        labels.append(str(int(seed)))
    for axis, label in zip(axes[:2], ("LMN", "L2 norm of parameters")):
        axis.set(xlabel=label, ylabel="test loss", title=f"test loss vs {label} in [t_fit, t_gen]")
        if ratios:
            axis.legend(fontsize=6)
    axes[0].text(0.98, 0.02, f"M2a: residual <= {params.max_nrmse:g} x range", ha="right", fontsize=7,
                 transform=axes[0].transAxes)
    if ratios:
        axes[2].bar(labels, ratios, color="tab:purple")
    else:
        axes[2].text(0.5, 0.5, "no seed generalised at this scale", ha="center", transform=axes[2].transAxes)
    axes[2].axhline(ratio_params.max_rms_ratio, color="black", ls="--", lw=1,
                    label=f"M2b threshold {ratio_params.max_rms_ratio:g}")
    axes[2].axhline(1, color="grey", ls=":", lw=1, label="as linear as the L2 norm")
    axes[2].set(xlabel="seed", ylabel="residual on LMN / on L2 norm", title="M2b: residual ratio per seed")
    axes[2].legend(fontsize=7)
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
