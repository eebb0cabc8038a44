"""Figures for semi-grokking: every run of the search near the critical size (and the control far above it),
test accuracy as S1 reads it (running median, raw faint), train accuracy and norm over steps."""

from __future__ import annotations

import numpy as np
import xarray as xr

from grokrepro.claims.semi_grokking import PlateauParams, running_median
from grokrepro.figures.common import plt, spec_check_params

FIGURES = ("search_curves",)


def search_curves(curves: xr.Dataset, verdict: dict):
    params = spec_check_params(curves, "semi_grokking_plateau", PlateauParams)
    sizes = np.unique(curves[params.size_axis].values)
    figure, axes = plt.subplots(2, len(sizes), figsize=(2.6 * len(sizes), 4.8), sharex=True, squeeze=False)
    steps = curves["step"].values
    for j, size in enumerate(sizes):
        top, bottom = axes[0, j], axes[1, j]
        for k in np.nonzero(curves[params.size_axis].values == size)[0]:
            label = f"seed {int(curves['seed'].values[k])}"
            test = curves["test_acc"].values[k]
            line = top.plot(steps, running_median(test, params.median_window), label=label)[0]
            top.plot(steps, test, color=line.get_color(), alpha=0.25, linewidth=0.7)
            top.plot(steps, curves["train_acc"].values[k], color=line.get_color(), alpha=0.35, linestyle=":")
            bottom.plot(steps, curves["param_norm"].values[k], color=line.get_color())
        top.axhspan(params.low_acc, params.high_acc, color="orange", alpha=0.08)
        near = params.boundary_size is None or (params.boundary_size / params.near_factor <= size
                                                <= params.boundary_size * params.near_factor)
        top.set(title=f"D = {size:g}" + ("" if near else " (control)"), ylim=(-0.02, 1.02), xscale="symlog",
                xlim=(steps[1], steps[-1]))
        bottom.set(xlabel="step")
        if j == 0:
            top.set_ylabel(f"test acc ({params.median_window}-pt median;\nraw faint, train dotted)")
            bottom.set_ylabel("parameter norm")
            top.legend(fontsize=6)
    figure.suptitle("Semi-grokking search: a plateau would sit inside the shaded band with a flat norm", y=1.01)
    figure.tight_layout()
    return figure


DRAW = {"search_curves": search_curves}
