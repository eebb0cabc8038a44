"""Figures for Notsawo et al.: the grid's final test accuracy beside its early activity; the ROC curve of the
early-loss predictor against the hyper-parameters; early loss curves of a grokking and a non-grokking run,
detrended, with their spectra."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from grokrepro.claims.spectral_prediction import baseline_values, best_baseline, grokked, oriented_score
from grokrepro.figures.common import plt, sns, spec_check
from grokrepro.metrics.spectral import detrended, early_signal, spectrum
from grokrepro.spec.schema import EarlyLossPredictor

FIGURES = ("grid_heatmaps", "roc_curve", "early_curves")
CHECK = "early_oscillations_predict_grokking"


def _setup(curves: xr.Dataset):
    check = spec_check(curves, CHECK) or {}
    params = check.get("params") or {}
    predictor = EarlyLossPredictor(**params.get("predictor", {}))
    gen_acc = params.get("gen_acc", 0.95)
    where = check.get("where", {})
    from grokrepro.claims.verdict import healthy_runs, select_runs

    runs = healthy_runs(select_runs(curves, where))[0]
    return runs, predictor, gen_acc, params


def _final(values: np.ndarray) -> np.ndarray:
    """Each run's last logged value (early-stopped runs end where they stopped)."""
    finite = np.isfinite(values)
    last = np.where(finite.any(1), finite.shape[1] - 1 - np.argmax(finite[:, ::-1], axis=1), 0)
    return values[np.arange(len(values)), last]


def grid_heatmaps(curves: xr.Dataset, verdict: dict):
    runs, predictor, gen_acc, _ = _setup(curves)
    feature = oriented_score(runs, predictor) * (1 if predictor.groks_when == "above" else -1)
    table = pd.DataFrame({
        "lr": runs["lr"].values, "weight_decay": runs["weight_decay"].values,
        "fraction": runs["train_fraction"].values if "train_fraction" in runs.coords else 1.0,
        "final test accuracy": _final(runs["test_acc"].values),
        f"log10 {predictor.feature}": np.log10(np.abs(feature)) if predictor.feature == "activity" else feature})
    fractions = sorted(table["fraction"].unique())
    panels = ["final test accuracy", f"log10 {predictor.feature}"]
    figure, axes = plt.subplots(len(fractions), 2, figsize=(8.5, 2.9 * len(fractions)), squeeze=False)
    for row, fraction in zip(axes, fractions):
        part = table[table["fraction"] == fraction]
        for axis, panel in zip(row, panels):
            grid = part.pivot_table(index="weight_decay", columns="lr", values=panel, aggfunc="mean")
            sns.heatmap(grid.sort_index(ascending=False), annot=True, fmt=".2f", ax=axis, cbar=False,
                        cmap="viridis", vmin=0 if panel.startswith("final") else None,
                        vmax=1 if panel.startswith("final") else None)
            axis.set(title=f"{panel}, training fraction {fraction:g}", xlabel="learning rate",
                     ylabel="weight decay")
    figure.suptitle(f"Mean over seeds. Right: {predictor.feature} of the early training {predictor.signal} "
                    f"(steps 0-{predictor.window - 1}, {predictor.detrend})", y=1.0)
    figure.tight_layout()
    return figure


def _roc(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    thresholds = np.unique(scores)[::-1]
    positives, negatives = max(labels.sum(), 1), max((~labels).sum(), 1)
    tpr = [0.0] + [((scores >= t) & labels).sum() / positives for t in thresholds]
    fpr = [0.0] + [((scores >= t) & ~labels).sum() / negatives for t in thresholds]
    return np.array(fpr), np.array(tpr)


def roc_curve(curves: xr.Dataset, verdict: dict):
    from grokrepro.claims.spectral_prediction import auroc

    runs, predictor, gen_acc, params = _setup(curves)
    labels = grokked(runs, gen_acc)
    figure, (axis, per_lr) = plt.subplots(1, 2, figsize=(9.2, 5.2))
    scores = oriented_score(runs, predictor)
    # P1 compares runs of one heat map (training fraction, and task and precision where swept): one curve each
    from grokrepro.claims.spectral_prediction import heatmap_strata

    strata, axes = heatmap_strata(runs, params.get("within", ("task", "train_fraction", "loss_dtype")))
    for stratum in np.unique(strata):
        mine = strata == stratum
        if labels[mine].any() and not labels[mine].all():
            k = int(np.argmax(mine))
            name = ", ".join(f"{a} {runs[a].values[k]}" for a in axes) or "all runs"
            fpr_l, tpr_l = _roc(scores[mine], labels[mine])
            per_lr.plot(fpr_l, tpr_l, label=f"{name}: {int(labels[mine].sum())} of {int(mine.sum())} grok, "
                                             f"AUROC {auroc(scores[mine], labels[mine]):.2f}")
    per_lr.plot([0, 1], [0, 1], color="lightgrey", lw=0.8)
    per_lr.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02),
               title=f"Within each heat map (P1: {auroc(scores, labels, strata):.2f})")
    if per_lr.get_legend_handles_labels()[0]:
        per_lr.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    fpr, tpr = _roc(scores, labels)
    axis.plot(fpr, tpr, lw=2, label=f"early {predictor.feature} ({predictor.detrend}), pooled AUROC "
                                    f"{auroc(scores, labels):.2f}")
    for label, other in params.get("other_readings", {}).items():
        other = EarlyLossPredictor(**other)
        other_scores = oriented_score(runs, other)
        fpr_o, tpr_o = _roc(other_scores, labels)
        axis.plot(fpr_o, tpr_o, lw=1, label=f"{label}, AUROC {auroc(other_scores, labels):.2f}")
    if labels.any() and not labels.all():
        name, best, _ = best_baseline(runs, labels, params.get("baselines", ["lr", "weight_decay",
                                                                             "lr_times_weight_decay"]))
        values = baseline_values(runs, name)
        if auroc(values, labels) < 0.5:
            values = -values
        fpr_b, tpr_b = _roc(values, labels)
        axis.plot(fpr_b, tpr_b, ls="--", color="grey", label=f"best hyper-parameter ({name}), AUROC {best:.2f}")
    if predictor.threshold is not None:
        cut = predictor.threshold if predictor.groks_when == "above" else -predictor.threshold
        calls = scores >= cut
        axis.scatter([(calls & ~labels).sum() / max((~labels).sum(), 1)], [(calls & labels).sum() / max(labels.sum(), 1)],
                     color="black", zorder=3, label="fixed threshold")
    axis.plot([0, 1], [0, 1], color="lightgrey", lw=0.8)
    axis.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02),
             title=f"Pooled over heat maps ({int(labels.sum())} of {len(labels)} runs grok)")
    axis.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.15))  # below: the curves fill the box
    return figure


def _example_runs(runs: xr.Dataset, labels: np.ndarray, scores: np.ndarray) -> list[int]:
    """A typical grokking and a typical non-grokking run, of one learning rate if one holds both."""
    lrs = runs["lr"].values
    mixed = [lr for lr in np.unique(lrs) if labels[lrs == lr].any() and not labels[lrs == lr].all()]
    pool = lrs == mixed[0] if mixed else np.ones(len(lrs), bool)
    picks = []
    for kind in (True, False):
        members = np.nonzero(pool & (labels == kind))[0]
        if len(members):
            picks.append(int(members[np.argsort(scores[members])[len(members) // 2]]))
    return picks


def early_curves(curves: xr.Dataset, verdict: dict):
    runs, predictor, gen_acc, _ = _setup(curves)
    labels = grokked(runs, gen_acc)
    scores = oriented_score(runs, predictor)
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    signal = early_signal(runs["train_loss"].values, runs["step"].values, predictor)
    for k in _example_runs(runs, labels, scores):
        label = (f"{'groks' if labels[k] else 'does not grok'}: lr {runs['lr'].values[k]:g}, "
                 f"wd {runs['weight_decay'].values[k]:g}, seed {int(runs['seed'].values[k])}")
        color = "tab:green" if labels[k] else "tab:red"
        if not np.isfinite(signal[k]).all():
            continue
        axes[0].plot(np.arange(predictor.window), signal[k], color=color, label=label)
        residual = detrended(signal[k], predictor.detrend, predictor.smoothing, predictor.cutoff, predictor.band)
        axes[1].plot(residual, color=color, alpha=0.8)
        frequencies, power = spectrum(residual)
        axes[2].semilogy(frequencies[1:], power[1:], color=color, alpha=0.8)
    axes[0].set(xlabel="step", ylabel=predictor.signal.replace("_", " "), title="early training loss")
    axes[1].set(xlabel="step (within the filter's valid stretch)", ylabel="detrended",
                title=f"after {predictor.detrend} detrending")
    axes[2].set(xlabel="frequency (cycles per step)", ylabel="power", title="spectrum of the detrended curve")
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    return figure


DRAW = {"grid_heatmaps": grid_heatmaps, "roc_curve": roc_curve, "early_curves": early_curves}
