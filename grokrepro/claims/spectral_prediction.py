"""Notsawo et al. 2023: oscillations of the training loss in the first few hundred steps predict whether a
run will grok much later.

P1: with the paper's sign fixed in advance (more early activity => the run groks), over runs not used to fix the
    filter, the early-loss activity ranks grokking runs above non-grokking ones with AUROC >= 0.8 over pairs of
    runs of one training fraction (the paper's evidence is lr x wd heat maps at a fixed fraction). The AUROC
    within heat-map rows (one lr), the reversed sign, and the hyper-parameters alone are reported beside it.
    A predictor of the reversed sign is refused by the check's params (so by `grokrepro validate`): the claim is
    about the paper's sign, and a reversed-sign pass must never read as reproduced.
O1: the claim presupposes oscillations: in the window, the training loss of >= 2/3 of the grokking runs rises
    by >= 5 % between two consecutive steps at least once. Without that, the "activity" measures something
    else (e.g. the curvature of a falling loss).
P2: the predictor's window is <= 10 % of the median t_gen of the runs that grok.

A run "groks" when its test accuracy reaches `gen_acc` within its budget (the one censoring rule: a run
that never does is a non-grokking run, whatever it might have done later).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr
from pydantic import Field, field_validator

from grokrepro.claims.kit import Events, Generalises, Selection, selects_runs
from grokrepro.claims.registry import check
from grokrepro.claims.verdict import CheckResult, healthy_runs
from grokrepro.metrics import bootstrap, first_step_reaching, interval
from grokrepro.metrics.spectral import early_features, early_signal, predicted_to_grok
from grokrepro.spec.schema import EarlyLossPredictor

Baseline = Literal["lr", "weight_decay", "lr_times_weight_decay", "train_fraction"]
# The paper: "if certain oscillations occur in the early epochs, one can expect grokking to occur".
PAPER_SIGN = "above"
# Sweep coordinates that, with lr and weight decay, make one of the paper's heat maps: runs are compared only
# with runs that share them (those present in the curves).
HEATMAP_AXES = ("task", "train_fraction", "loss_dtype")


class Params(Generalises):
    predictor: EarlyLossPredictor


def _paper_sign(predictor: EarlyLossPredictor) -> EarlyLossPredictor:
    if predictor.groks_when != PAPER_SIGN:
        raise ValueError("the paper's sign is fixed: more early activity predicts grokking (groks_when: above); "
                         "a predictor of the reversed sign tests the opposite of the claim and is not accepted")
    return predictor


class PredictionParams(Params):
    # Other readings of the paper's filter, each fixed on development runs too: reported, never judged.
    other_readings: dict[str, EarlyLossPredictor] = Field(default_factory=dict)
    min_runs: int = Field(32, ge=2)
    # runs of each kind among the runs whose heat map holds both kinds
    min_per_class: int = Field(4, ge=1)
    min_auroc: float = Field(0.8, gt=0.5, le=1)
    baselines: list[Baseline] = Field(default_factory=lambda: ["lr", "weight_decay", "lr_times_weight_decay"],
                                      min_length=1)
    # What ranks the runs: the predictor's feature, or (for controls) a hyper-parameter read the way the feature
    # is (larger => groks), e.g. `lr`, since the activity grows with the learning rate.
    score: Literal["predictor", "lr", "weight_decay", "lr_times_weight_decay"] = "predictor"
    within: list[str] = Field(default_factory=lambda: list(HEATMAP_AXES))

    @field_validator("predictor")
    @classmethod
    def _fixed_sign(cls, predictor):
        return _paper_sign(predictor)

    @field_validator("other_readings")
    @classmethod
    def _fixed_signs(cls, readings):
        for predictor in readings.values():
            _paper_sign(predictor)
        return readings


class OscillationParams(Params):
    min_rise: float = Field(0.05, gt=0)  # a relative rise L[t+1] / L[t] - 1 between consecutive steps
    min_rises: int = Field(1, ge=1)
    min_share: float = Field(2 / 3, gt=0, le=1)
    min_grokking_runs: int = Field(3, ge=1)


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
    `strata`, only pairs within one stratum are compared (e.g. runs of one training fraction)."""
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


def best_baseline(runs: xr.Dataset, labels: np.ndarray, names: list[str],
                  strata: np.ndarray | None = None) -> tuple[str, float, dict]:
    """The hyper-parameter that ranks the runs best, either sign, judged on these very runs (which favours
    the baseline: the early-loss predictor's sign was fixed beforehand)."""
    scores = {}
    for name in names:
        value = auroc(baseline_values(runs, name), labels, strata)
        scores[name] = max(value, 1 - value) if np.isfinite(value) else float("nan")
    best = max(scores, key=lambda n: -np.inf if np.isnan(scores[n]) else scores[n])
    return best, scores[best], scores


def heatmap_strata(runs: xr.Dataset, axes=HEATMAP_AXES, also: tuple[str, ...] = ()) -> tuple[np.ndarray, list[str]]:
    """One label per run naming its heat map (the values of `axes` present in the curves, plus `also`)."""
    names = [a for a in (*axes, *also) if a in runs.coords]
    if not names:
        return np.zeros(runs.sizes["run"], int), []
    keys = [tuple(str(runs[a].values[i]) for a in names) for i in range(runs.sizes["run"])]
    index = {key: k for k, key in enumerate(sorted(set(keys)))}
    return np.array([index[key] for key in keys]), names


def _reading(runs, labels, strata, predictor: EarlyLossPredictor) -> str:
    scores = oriented_score(runs, predictor)
    text = (f"{predictor.signal} {predictor.detrend} / {predictor.feature} ({predictor.groks_when}), "
            f"K {predictor.window}: AUROC {auroc(scores, labels, strata):.3f} within heat maps, "
            f"{auroc(scores, labels):.3f} pooled")
    if predictor.threshold is not None:
        calls = predicted_to_grok(scores if predictor.groks_when == "above" else -scores, predictor)
        text += f", accuracy at the fixed threshold {predictor.threshold:.3g}: {(calls == labels).mean():.3f}"
    return text


def _scores(runs: xr.Dataset, params: PredictionParams) -> np.ndarray:
    if params.score == "predictor":
        return oriented_score(runs, params.predictor)
    return baseline_values(runs, params.score)


def _mixed(labels: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Runs whose heat map holds both kinds (the only runs the within-heat-map AUROC compares)."""
    mixed = np.zeros(len(labels), bool)
    for stratum in np.unique(strata):
        mine = strata == stratum
        if labels[mine].any() and not labels[mine].all():
            mixed |= mine
    return mixed


@check("early_oscillations_predict_grokking", PredictionParams)
@selects_runs(threshold=lambda p: p.min_auroc, none_match=False)
def early_oscillations_predict_grokking(sel: Selection, params: PredictionParams) -> CheckResult:
    """A feature of the early training loss (the predictor, its sign fixed in advance) ranks the runs that grok
    above those that do not with AUROC >= min_auroc, within groups of `within`, beside baseline scores."""
    runs, n_runs = sel.runs, sel.n_runs
    labels = grokked(runs, params.gen_acc)
    strata, axes = heatmap_strata(runs, params.within) if n_runs else (np.array([], int), [])
    mixed = _mixed(labels, strata)
    within_name = "within one " + " x ".join(axes) if axes else "over all runs (one heat map)"
    counts = (f"{int(labels.sum())} of {n_runs} runs grok (test acc >= {params.gen_acc} within the budget), "
              f"{int(mixed.sum())} runs in heat maps ({' x '.join(axes) or 'one'}) that hold both kinds")
    if (n_runs < params.min_runs or min(labels[mixed].sum(), (~labels[mixed]).sum()) < params.min_per_class):
        return sel.inconclusive(f"too few runs to rank: {counts}; need >= {params.min_runs} runs with >= "
                                f"{params.min_per_class} of each kind in mixed heat maps ({sel.n_diverged} diverged)",
                                n_runs)
    scores = _scores(runs, params)
    if not np.isfinite(scores).all():
        return sel.inconclusive(f"the training loss of {int((~np.isfinite(scores)).sum())} runs is not logged at "
                                f"every step below {params.predictor.window}", n_runs)
    value = auroc(scores, labels, strata)
    passes = bool(value >= params.min_auroc)
    # Uncertainty: runs resampled with replacement (each run is one draw of seed and split).
    indices = np.arange(n_runs)
    draws = bootstrap(indices, lambda pick: auroc(scores[pick], labels[pick], strata[pick]))
    finite = draws[np.isfinite(draws)]
    per_seed = []
    for seed in np.unique(runs["seed"].values):
        mine = runs["seed"].values == seed
        one = auroc(scores[mine], labels[mine], strata[mine])
        if np.isfinite(one):
            per_seed.append(one >= params.min_auroc)
    rows, _ = heatmap_strata(runs, params.within, also=("lr",))
    name, best, all_baselines = best_baseline(runs, labels, params.baselines, strata)
    budgets = sorted({int(b) for b in runs["budget_steps"].values})
    if params.score == "predictor":
        what = "the early-loss " + params.predictor.feature + " (the paper's sign: more => groks)"
    else:
        what = f"the hyper-parameter {params.score} alone, read as the activity is (larger => groks)"
    verb = "reaches" if passes else "does not reach"
    detail = (f"{what} ranks grokking runs above non-grokking ones with AUROC {value:.3f} {within_name}, which "
              f"{verb} {params.min_auroc}; {counts}, budget {', '.join(map(str, budgets))} steps"
              f"; within heat-map rows (one lr) {auroc(scores, labels, rows):.3f}, pooled {auroc(scores, labels):.3f}"
              f", reversed sign {1 - value:.3f} (reported, never judged)")
    if params.score == "predictor":
        detail += "; predictor " + _reading(runs, labels, strata, params.predictor)
    detail += ("; hyper-parameters alone " + within_name + " (best sign, on these runs): "
               + ", ".join(f"{n} {v:.3f}" for n, v in all_baselines.items())
               + f" (best: {name}, {value - best:+.3f} for the score)")
    if params.score == "predictor":
        detail += "".join(f"; other reading '{label}': " + _reading(runs, labels, strata, other)
                          for label, other in params.other_readings.items())
    detail += "; interval: bootstrap over runs" + sel.diverged
    return sel.result(value, passes, detail, interval=interval(finite) if len(finite) else None,
                      seed_fraction=float(np.mean(per_seed)) if per_seed else None,
                      support=float((finite >= params.min_auroc).mean()) if len(finite) else None)


def rises(train_loss: np.ndarray, steps: np.ndarray, predictor: EarlyLossPredictor, min_rise: float) -> np.ndarray:
    """Per run, how often the training loss rises by >= min_rise (relative) from one step to the next within
    steps 0..K-1; -1 where a step of the window was not logged."""
    loss = early_signal(train_loss, steps, predictor.model_copy(update={"signal": "loss"}))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = loss[:, 1:] / loss[:, :-1] - 1
    counts = (ratio >= min_rise).sum(axis=1)
    return np.where(np.isfinite(loss).all(axis=1), counts, -1)


@check("early_loss_oscillates", OscillationParams)
@selects_runs(threshold=lambda p: p.min_share, none_match=False)
def early_loss_oscillates(sel: Selection, params: OscillationParams) -> CheckResult:
    """Within the predictor's window, the training loss of >= min_share of the runs that grok rises by >=
    min_rise between consecutive logged steps at least min_rises times."""
    runs, n_runs, threshold = sel.runs, sel.n_runs, sel.threshold
    labels = grokked(runs, params.gen_acc)
    window = params.predictor.window
    if labels.sum() < params.min_grokking_runs:
        return sel.inconclusive(f"too few runs grok to look at their early loss: {int(labels.sum())} of {n_runs}; "
                                f"need {params.min_grokking_runs}", n_runs)
    counts = rises(runs["train_loss"].values, runs["step"].values, params.predictor, params.min_rise)
    if (counts[labels] < 0).any():
        return sel.inconclusive(f"the training loss of {int((counts[labels] < 0).sum())} grokking runs is not "
                                f"logged at every step below {window}", n_runs)
    oscillating = counts >= params.min_rises
    share = float(oscillating[labels].mean())
    draws = bootstrap(oscillating[labels].astype(float), np.mean)
    seeds = runs["seed"].values
    per_seed = [oscillating[labels & (seeds == s)].mean() >= threshold for s in np.unique(seeds[labels])]
    others = oscillating[~labels & (counts >= 0)]
    detail = (f"in steps 0-{window - 1}, the training loss of {int(oscillating[labels].sum())} of "
              f"{int(labels.sum())} grokking runs ({share:.2f}) rises by >= {params.min_rise:.0%} between "
              f"consecutive steps at least {params.min_rises} time(s); the check needs {threshold:.2f}, so it "
              + ("passes" if share >= threshold else "fails: the early loss of this setting does not oscillate, "
                 "and an 'activity' read from it measures something else (e.g. the curvature of a falling loss)")
              + f"; non-grokking runs: {int(others.sum())} of {len(others)}"
              + f"; rises per grokking run: median {np.median(counts[labels]):g}, max {counts[labels].max()}"
              + "; interval: bootstrap over the grokking runs" + sel.diverged)
    return sel.result(share, share >= threshold, detail, draws=draws,
                      seed_fraction=float(np.mean(per_seed)) if per_seed else None,
                      support=float((draws >= threshold).mean()))


def _window_share(window: int, t_gen: np.ndarray) -> float:
    return window / float(np.median(t_gen)) if len(t_gen) else float("nan")


@check("prediction_window_is_early", WindowParams)
@selects_runs(threshold=lambda p: p.max_share, none_match=False)
def prediction_window_is_early(sel: Selection, params: WindowParams) -> CheckResult:
    """The early-loss predictor's window is <= max_share of the median t_gen of the runs that grok."""
    runs, threshold = sel.runs, sel.threshold
    t_gen = generalisation_steps(runs, params.gen_acc)
    grokking = np.isfinite(t_gen)
    window = params.predictor.window
    if grokking.sum() < params.min_grokking_runs:
        return sel.inconclusive(f"{int(grokking.sum())} runs grok; need {params.min_grokking_runs}", sel.n_runs)
    times = t_gen[grokking]
    share = _window_share(window, times)
    draws = bootstrap(times, lambda pick: _window_share(window, pick))
    seeds = runs["seed"].values[grokking]
    per_seed = [_window_share(window, times[seeds == s]) <= threshold for s in np.unique(seeds)]
    detail = (f"window K = {window} steps; {int(grokking.sum())} of {int(runs.sizes['run'])} runs grok, t_gen "
              f"(first logged step with test acc >= {params.gen_acc}) median {np.median(times):g}, range "
              f"{times.min():g}-{times.max():g}; interval: bootstrap over the grokking runs" + sel.diverged)
    return sel.result(share, share <= threshold, detail, draws=draws, seed_fraction=float(np.mean(per_seed)),
                      support=float((draws <= threshold).mean()))


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


def choose_predictor(runs: xr.Dataset, gen_acc: float = 0.95, windows=(100, 200, 400), signals=("loss",),
                     features=("activity",), within=HEATMAP_AXES) -> list[dict]:
    """Every candidate (filter x window x signal x feature), always with the paper's sign, scored on these
    development runs by its AUROC within heat maps (P1's statistic), with the threshold that maximises balanced
    accuracy. Best first. The sign is never chosen: it is the paper's."""
    labels = grokked(runs, gen_acc)
    strata, _ = heatmap_strata(runs, within)
    rows = []
    for window in windows:
        for signal in signals:
            for options in CANDIDATE_FILTERS:
                predictor = EarlyLossPredictor(window=window, signal=signal, **options)
                values = early_features(runs["train_loss"].values, runs["step"].values, predictor)
                for feature in features:
                    score = values[feature]
                    if not np.isfinite(score).all():
                        continue
                    chosen = predictor.model_copy(update={"feature": feature, "groks_when": PAPER_SIGN,
                                                          "threshold": best_threshold(score, labels, PAPER_SIGN)})
                    rows.append({"predictor": chosen.model_dump(), "auroc": auroc(score, labels),
                                 "within": auroc(score, labels, strata)})
    return sorted(rows, key=lambda r: -np.nan_to_num(r["within"], nan=-np.inf))


def _main() -> None:
    import argparse

    from grokrepro.metrics.curves import read_complete

    parser = argparse.ArgumentParser(description="Rank early-loss predictors on development curves (never on "
                                                 "the verdict seeds' curves).")
    parser.add_argument("curves", help="curves.nc trained with --seed-set development")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--features", default="activity", help="comma-separated Hjorth parameters to try")
    parser.add_argument("--windows", default="100,200,400", help="comma-separated window lengths K")
    parser.add_argument("--signals", default="loss", help="comma-separated signals (loss, log_loss)")
    args = parser.parse_args()
    runs = healthy_runs(read_complete(args.curves))[0]
    events = Events()  # the checks' default accuracies
    labels = grokked(runs, events.gen_acc)
    print(f"{int(labels.sum())} of {len(labels)} development runs grok")
    for name in ("lr", "weight_decay", "lr_times_weight_decay", "train_fraction"):
        if name in runs.coords or name == "lr_times_weight_decay":
            value = auroc(baseline_values(runs, name), labels)
            print(f"  hyper-parameter {name}: AUROC {max(value, 1 - value):.3f}")
    fits = first_step_reaching(runs["train_acc"].values, runs["step"].values, events.fit_acc)
    print(f"t_fit (train acc >= {events.fit_acc:g}): median {np.nanmedian(fits):g} over {int(np.isfinite(fits).sum())} runs "
          f"that fit; a window should cover >= 1.3x that")
    strata, _ = heatmap_strata(runs)
    for name in ("lr", "weight_decay", "lr_times_weight_decay"):
        value = auroc(baseline_values(runs, name), labels, strata)
        print(f"  hyper-parameter {name} within heat maps: AUROC {max(value, 1 - value):.3f}")
    rows = choose_predictor(runs, windows=[int(w) for w in args.windows.split(",")],
                            signals=args.signals.split(","), features=args.features.split(","))
    for row in rows[: args.top]:
        p = row["predictor"]
        print(f"AUROC within heat maps {row['within']:.3f}, pooled {row['auroc']:.3f}: "
              f"K {p['window']} {p['signal']} {p['detrend']} "
              f"(smoothing {p['smoothing']}, cutoff {p['cutoff']}, band {p['band']}) {p['feature']} "
              f"{p['groks_when']} {p['threshold']:.4g}")


if __name__ == "__main__":
    _main()
