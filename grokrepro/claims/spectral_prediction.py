"""Notsawo et al. 2023: oscillations of the training loss in the first few hundred steps predict whether a
run will grok much later.

P1: over a grid of runs not used to fix the predictor, its AUROC is >= 0.8 and >= 0.1 above the best
    predictor built from the hyper-parameters alone, or >= 0.7 within runs of one learning rate.
P2: the predictor's window is <= 10 % of the median t_gen of the runs that grok.

A run "groks" when its test accuracy reaches `gen_acc` within its budget (the one censoring rule: a run
that never does is a non-grokking run, whatever it might have done later).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field

from grokrepro.claims.registry import check
from grokrepro.claims.verdict import CheckResult, healthy_runs, inconclusive, judged, select_runs
from grokrepro.metrics import bootstrap, first_step_reaching, interval
from grokrepro.metrics.spectral import early_features, predicted_to_grok
from grokrepro.spec.schema import EarlyLossPredictor

Baseline = Literal["lr", "weight_decay", "lr_times_weight_decay", "train_fraction"]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    predictor: EarlyLossPredictor
    gen_acc: float = Field(0.95, gt=0, le=1)


class PredictionParams(Params):
    # Other readings of the paper's filter, each fixed on development runs too: reported, never judged.
    other_readings: dict[str, EarlyLossPredictor] = Field(default_factory=dict)
    min_runs: int = Field(32, ge=2)
    min_per_class: int = Field(4, ge=1)
    min_auroc: float = Field(0.8, gt=0.5, le=1)
    min_margin: float = Field(0.1, ge=0)
    min_auroc_within_lr: float = Field(0.7, gt=0.5, le=1)
    baselines: list[Baseline] = Field(default_factory=lambda: ["lr", "weight_decay", "lr_times_weight_decay"],
                                      min_length=1)
    # The paper: runs that oscillate more grok. A predictor of the other sign is flagged in the detail.
    paper_sign: Literal["above", "below"] = "above"


class WindowParams(Params):
    max_share: float = Field(0.1, gt=0)
    min_grokking_runs: int = Field(3, ge=1)


def grokked(runs: xr.Dataset, gen_acc: float) -> np.ndarray:
    return np.isfinite(generalisation_steps(runs, gen_acc))


def generalisation_steps(runs: xr.Dataset, gen_acc: float) -> np.ndarray:
    return first_step_reaching(runs["test_acc"].values, runs["step"].values, gen_acc)


def oriented_score(runs: xr.Dataset, predictor: EarlyLossPredictor) -> np.ndarray:
    """The predictor's feature, signed so that larger means 'will grok'."""
    feature = early_features(runs["train_loss"].values, runs["step"].values, predictor)[predictor.feature]
    return feature if predictor.groks_when == "above" else -feature


def auroc(scores: np.ndarray, labels: np.ndarray, strata: np.ndarray | None = None) -> float:
    """P(score of a grokking run > score of a non-grokking one), ties counting ½ (Mann-Whitney). With
    `strata`, only pairs within one stratum are compared (e.g. runs of one learning rate)."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    same = np.ones((len(scores), len(scores)), bool) if strata is None else strata[:, None] == strata[None, :]
    pairs = labels[:, None] & ~labels[None, :] & same
    if not pairs.any():
        return float("nan")
    difference = scores[:, None] - scores[None, :]
    wins = (difference > 0) + 0.5 * (difference == 0)
    return float(wins[pairs].sum() / pairs.sum())


def baseline_values(runs: xr.Dataset, name: str) -> np.ndarray:
    if name == "lr_times_weight_decay":
        return runs["lr"].values * runs["weight_decay"].values
    return runs[name].values.astype(float)


def best_baseline(runs: xr.Dataset, labels: np.ndarray, names: list[str]) -> tuple[str, float, dict]:
    """The hyper-parameter that ranks the runs best, either sign, judged on these very runs (which favours
    the baseline: the early-loss predictor's sign was fixed beforehand)."""
    scores = {}
    for name in names:
        value = auroc(baseline_values(runs, name), labels)
        scores[name] = max(value, 1 - value) if np.isfinite(value) else float("nan")
    best = max(scores, key=lambda n: -np.inf if np.isnan(scores[n]) else scores[n])
    return best, scores[best], scores


WITHIN_LR, OVERALL = "within learning rates", "over all runs"


def _route(overall: float, margin: float, within: float, params: PredictionParams) -> str:
    """Which of P1's two alternatives decides: the one cleared by more (or missed by less)."""
    overall_clearance = min(overall - params.min_auroc, margin - params.min_margin)
    within_clearance = within - params.min_auroc_within_lr
    return WITHIN_LR if np.nan_to_num(within_clearance, nan=-np.inf) > np.nan_to_num(overall_clearance, nan=-np.inf) \
        else OVERALL


def _p1(scores, labels, lrs, baseline_table, params: PredictionParams) -> tuple[bool, float, float, float]:
    """(passes, AUROC, margin over the best baseline, AUROC within learning rates) on one set of runs."""
    overall = auroc(scores, labels)
    baselines = []
    for values in baseline_table:
        value = auroc(values, labels)
        baselines.append(max(value, 1 - value) if np.isfinite(value) else np.nan)
    margin = overall - np.nanmax(baselines) if np.isfinite(baselines).any() else np.nan
    within = auroc(scores, labels, lrs)
    passes = bool((overall >= params.min_auroc and margin >= params.min_margin)
                  or within >= params.min_auroc_within_lr)
    return passes, overall, margin, within


def _reading(runs, labels, predictor: EarlyLossPredictor) -> str:
    scores = oriented_score(runs, predictor)
    text = (f"{predictor.detrend} / {predictor.feature} ({predictor.groks_when}), K {predictor.window}: "
            f"AUROC {auroc(scores, labels):.3f}, within learning rates {auroc(scores, labels, runs['lr'].values):.3f}")
    if predictor.threshold is not None:
        calls = predicted_to_grok(scores if predictor.groks_when == "above" else -scores, predictor)
        text += f", accuracy at the fixed threshold {predictor.threshold:.3g}: {(calls == labels).mean():.3f}"
    return text


@check("early_oscillations_predict_grokking", PredictionParams)
def early_oscillations_predict_grokking(curves: xr.Dataset, spec_check, params: PredictionParams) -> CheckResult:
    threshold = {"min_auroc": params.min_auroc, "min_margin": params.min_margin,
                 "min_auroc_within_lr": params.min_auroc_within_lr}
    runs, n_diverged = healthy_runs(select_runs(curves, spec_check.where))
    n_runs = int(runs.sizes["run"])
    labels = grokked(runs, params.gen_acc)
    scores = oriented_score(runs, params.predictor) if n_runs else np.array([])
    counts = f"{int(labels.sum())} of {n_runs} runs grok (test acc >= {params.gen_acc} within the budget)"
    if n_runs < params.min_runs or min(labels.sum(), (~labels).sum()) < params.min_per_class:
        return inconclusive(spec_check, threshold, f"{counts}; need >= {params.min_runs} runs with >= "
                            f"{params.min_per_class} of each kind ({n_diverged} diverged)", n_runs)
    if not np.isfinite(scores).all():
        return inconclusive(spec_check, threshold, f"the training loss of {int((~np.isfinite(scores)).sum())} "
                            f"runs is not logged at every step below {params.predictor.window}", n_runs)
    lrs = runs["lr"].values
    table = np.array([baseline_values(runs, name) for name in params.baselines])
    passes, overall, margin, within = _p1(scores, labels, lrs, table, params)
    # The headline value is the AUROC of the alternative that decides, its interval that statistic's.
    route = _route(overall, margin, within, params)
    statistic = 3 if route == WITHIN_LR else 1

    # Uncertainty: the runs resampled with replacement (a grid cell's runs are not exchangeable with
    # another's, but each run is one draw of seed and split; AUROC has no seed-level statistic otherwise).
    indices = np.arange(n_runs)
    draws = bootstrap(indices, lambda pick: _p1(scores[pick], labels[pick], lrs[pick], table[:, pick],
                                                params)[statistic])
    support = bootstrap(indices, lambda pick: float(_p1(scores[pick], labels[pick], lrs[pick], table[:, pick],
                                                        params)[0]))
    per_seed = []
    for seed in np.unique(runs["seed"].values):
        mine = runs["seed"].values == seed
        if labels[mine].any() and not labels[mine].all():
            per_seed.append(_p1(scores[mine], labels[mine], lrs[mine], table[:, mine], params)[0])
    name, best, all_baselines = best_baseline(runs, labels, params.baselines)
    # What the hyper-parameters say among runs of one learning rate, so that a within-lr pass can be told
    # apart from a weight-decay (or data) reading.
    within_notes = []
    for other in ("weight_decay", "train_fraction"):
        if other in runs.coords:
            value = auroc(runs[other].values.astype(float), labels, lrs)
            within_notes.append(f"{other} {max(value, 1 - value):.3f}" if np.isfinite(value) else f"{other} n/a")
    fraction_note = "; within learning rates, " + ", ".join(within_notes) + " alone" if within_notes else ""
    if "train_fraction" in runs.coords and "train_fraction" not in params.baselines:
        value = auroc(runs["train_fraction"].values, labels)
        fraction_note += f"; training fraction alone: {max(value, 1 - value):.3f}"
    budgets = sorted({int(b) for b in runs["budget_steps"].values})
    sign_note = ("" if params.predictor.groks_when == params.paper_sign else
                 f"; NB the sign is the paper's opposite: {params.predictor.feature} {params.predictor.groks_when} "
                 "the threshold predicts grokking")
    detail = (f"value: AUROC {route} (the alternative that decides); {counts}, budget "
              f"{', '.join(map(str, budgets))} steps; predictor "
              + _reading(runs, labels, params.predictor) + sign_note
              + f"; margin over the best hyper-parameter predictor ({name}, AUROC {best:.3f}) {margin:+.3f}"
              + "; hyper-parameters alone (best sign, on these runs): "
              + ", ".join(f"{n} {v:.3f}" for n, v in all_baselines.items()) + fraction_note
              + "".join(f"; other reading '{label}': " + _reading(runs, labels, other)
                        for label, other in params.other_readings.items())
              + "; interval: bootstrap over runs"
              + (f"; {n_diverged} diverged runs left out" if n_diverged else ""))
    return judged(CheckResult(
        spec_check.name, spec_check.statement, within if route == WITHIN_LR else overall, threshold, passes, "",
        interval=list(interval(draws[np.isfinite(draws)])),
        seed_fraction=float(np.mean(per_seed)) if per_seed else None, support=float(support.mean()),
        n_runs=n_runs, detail=detail, where=dict(spec_check.where)))


def _window_share(window: int, t_gen: np.ndarray) -> float:
    return window / float(np.median(t_gen)) if len(t_gen) else float("nan")


@check("prediction_window_is_early", WindowParams)
def prediction_window_is_early(curves: xr.Dataset, spec_check, params: WindowParams) -> CheckResult:
    threshold = params.max_share
    runs, n_diverged = healthy_runs(select_runs(curves, spec_check.where))
    t_gen = generalisation_steps(runs, params.gen_acc)
    grokking = np.isfinite(t_gen)
    window = params.predictor.window
    if grokking.sum() < params.min_grokking_runs:
        return inconclusive(spec_check, threshold, f"{int(grokking.sum())} runs grok; need "
                            f"{params.min_grokking_runs}", int(runs.sizes["run"]))
    times = t_gen[grokking]
    share = _window_share(window, times)
    draws = bootstrap(times, lambda pick: _window_share(window, pick))
    seeds = runs["seed"].values[grokking]
    per_seed = [_window_share(window, times[seeds == s]) <= threshold for s in np.unique(seeds)]
    detail = (f"window K = {window} steps; {int(grokking.sum())} of {int(runs.sizes['run'])} runs grok, t_gen "
              f"(first logged step with test acc >= {params.gen_acc}) median {np.median(times):g}, range "
              f"{times.min():g}-{times.max():g}; interval: bootstrap over the grokking runs"
              + (f"; {n_diverged} diverged runs left out" if n_diverged else ""))
    return judged(CheckResult(
        spec_check.name, spec_check.statement, share, threshold, bool(share <= threshold), "",
        interval=list(interval(draws)), seed_fraction=float(np.mean(per_seed)),
        support=float((draws <= threshold).mean()), n_runs=int(runs.sizes["run"]), detail=detail,
        where=dict(spec_check.where)))


# -- fixing the predictor on development runs ------------------------------------------------------------------

CANDIDATE_FILTERS = (
    [{"detrend": "moving_average", "smoothing": w} for w in (9, 25, 51)]
    + [{"detrend": "high_pass", "cutoff": c} for c in (0.02, 0.05, 0.1)]
    + [{"detrend": "low_band", "band": b} for b in ((0.005, 0.02), (0.01, 0.05), (0.02, 0.1))]
)


def best_threshold(feature: np.ndarray, labels: np.ndarray, groks_when: str) -> float:
    """The cut between two neighbouring values that maximises balanced accuracy."""
    values = np.unique(feature[np.isfinite(feature)])
    cuts = (values[1:] + values[:-1]) / 2 if len(values) > 1 else values

    def balanced(cut):
        calls = feature >= cut if groks_when == "above" else feature <= cut
        return 0.5 * (calls[labels].mean() + (~calls[~labels]).mean())

    return float(max(cuts, key=balanced))


def choose_predictor(runs: xr.Dataset, gen_acc: float = 0.95, windows=(100, 200, 400),
                     features=("activity",), baselines=("lr", "weight_decay", "lr_times_weight_decay"),
                     min_auroc: float = 0.8, min_margin: float = 0.1, min_auroc_within_lr: float = 0.7) -> list[dict]:
    """Every candidate (filter x window x feature x sign), scored on these development runs by how far it
    clears P1 (the larger of: within-lr AUROC - 0.7; the smaller of AUROC - 0.8 and the margin over the best
    hyper-parameter - 0.1), with the threshold that maximises balanced accuracy. Best first."""
    labels = grokked(runs, gen_acc)
    lrs = runs["lr"].values
    best_hyper = best_baseline(runs, labels, list(baselines))[1]
    rows = []
    for window in windows:
        for options in CANDIDATE_FILTERS:
            predictor = EarlyLossPredictor(window=window, **options)
            values = early_features(runs["train_loss"].values, runs["step"].values, predictor)
            for feature in features:
                score = values[feature]
                if not np.isfinite(score).all():
                    continue
                for groks_when, oriented in (("above", score), ("below", -score)):
                    overall, within = auroc(oriented, labels), auroc(oriented, labels, lrs)
                    clearance = max(within - min_auroc_within_lr,
                                    min(overall - min_auroc, overall - best_hyper - min_margin))
                    chosen = predictor.model_copy(update={"feature": feature, "groks_when": groks_when,
                                                          "threshold": best_threshold(score, labels, groks_when)})
                    rows.append({"predictor": chosen.model_dump(), "auroc": overall, "within_lr": within,
                                 "clearance": clearance})
    return sorted(rows, key=lambda r: -np.nan_to_num(r["clearance"], nan=-np.inf))


def _main() -> None:
    import argparse

    from grokrepro.claims.verdict import healthy_runs
    from grokrepro.metrics.curves import read_complete

    parser = argparse.ArgumentParser(description="Rank early-loss predictors on development curves (never on "
                                                 "the verdict seeds' curves).")
    parser.add_argument("curves", help="curves.nc trained with --seed-set development")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--features", default="activity", help="comma-separated Hjorth parameters to try")
    args = parser.parse_args()
    runs = healthy_runs(read_complete(args.curves))[0]
    labels = grokked(runs, 0.95)
    print(f"{int(labels.sum())} of {len(labels)} development runs grok")
    for name in ("lr", "weight_decay", "lr_times_weight_decay", "train_fraction"):
        if name in runs.coords or name == "lr_times_weight_decay":
            value = auroc(baseline_values(runs, name), labels)
            print(f"  hyper-parameter {name}: AUROC {max(value, 1 - value):.3f}")
    parser_features = args.features.split(",")
    for row in choose_predictor(runs, features=parser_features)[: args.top]:
        p = row["predictor"]
        print(f"P1 clearance {row['clearance']:+.3f}, AUROC {row['auroc']:.3f}, within-lr {row['within_lr']:.3f}: "
              f"K {p['window']} {p['detrend']} "
              f"(smoothing {p['smoothing']}, cutoff {p['cutoff']}, band {p['band']}) {p['feature']} "
              f"{p['groks_when']} {p['threshold']:.4g}")


if __name__ == "__main__":
    _main()
