"""Figures for semi-grokking: every run of the search near the critical size, accuracy and norm over steps."""

from __future__ import annotations

import numpy as np
import xarray as xr

from grokrepro.figures.common import plt

FIGURES = ("search_curves",)


def search_curves(curves: xr.Dataset, verdict: dict):
    sizes = np.unique(curves["train_size"].values)
    figure, axes = plt.subplots(2, len(sizes), figsize=(2.6 * len(sizes), 4.8), sharex=True, squeeze=False)
    steps = curves["step"].values
    for j, size in enumerate(sizes):
        top, bottom = axes[0, j], axes[1, j]
        for k in np.nonzero(curves["train_size"].values == size)[0]:
            label = f"seed {int(curves['seed'].values[k])}"
            line = top.plot(steps, curves["test_acc"].values[k], label=label)[0]
            top.plot(steps, curves["train_acc"].values[k], color=line.get_color(), alpha=0.35, linestyle=":")
            bottom.plot(steps, curves["param_norm"].values[k], color=line.get_color())
        top.axhspan(0.2, 0.9, color="orange", alpha=0.08)
        top.set(title=f"D = {size:g}", ylim=(-0.02, 1.02), xscale="symlog", xlim=(steps[1], steps[-1]))
        bottom.set(xlabel="step")
        if j == 0:
            top.set_ylabel("test acc (train acc dotted)")
            bottom.set_ylabel("parameter norm")
            top.legend(fontsize=6)
    figure.suptitle("Semi-grokking search: a plateau would sit inside the shaded band with a flat norm", y=1.01)
    figure.tight_layout()
    return figure


DRAW = {"search_curves": search_curves}
