"""Prieto, Barsbey, Mediano, Birdal 2025 ("Grokking at the edge of numerical stability", ICLR 2025,
arXiv:2501.04697).

What the paper says, in its words:
- Abstract: "without regularization, grokking tasks push models to the edge of numerical stability, introducing
  floating point errors in the Softmax that we refer to as Softmax Collapse (SC). We show that SC prevents
  grokking and that mitigating SC leads to grokking without regularization."
- p. 2: SC errors "result in zero terms in the gradient and put an end to learning, sometimes before any
  progress is made in the test performance, resulting in complete overfitting (Fig. 1, c)"; StableMax "takes
  models from complete overfitting to grokking (Fig. 1, c to b) without regularization"; ⊥Grad "quickly leads to
  generalization without the initial overfitting phase that defines grokking (Fig. 1, b to a)".
- p. 4, Eq. 2-3: SC "occurs when Σₖ e^{z_k} ≐ e^{z_y}, in which case the SCE loss becomes ... = 0"; "during SC
  the loss becomes identical to zero" (the `softmax_collapse` probe: the share of training examples whose loss is
  exactly 0 in the run's loss dtype, the authors' `zero_terms`).
- p. 5 (Fig. 2): "networks trained using float64 in the Softmax face SC later in training which allows for a
  further increase in test performance. Conversely, using float16 leads to SC earlier". In the authors' own
  Fig. 2 outputs the float64 delay and its higher test accuracy appear at the 60 % and 70 % splits (70 %: test
  accuracy peaks near 65 % in float32 and 90 % in float64); at 40 % no precision generalises.
- p. 5 (Fig. 4): "StableMax leads to grokking in commonly studied settings without regularization. Notably,
  this happens while the norm of the weights increases substantially"; the authors' StableMax run first logs
  test accuracy >= 0.95 at about 5·10⁴ epochs (one-hot inputs, bias-free MLP, lr 0.01, β2 0.999).
- p. 8: "⊥Grad optimizers lead to generalization without a phase of initial overfitting, in contexts where no
  improvement in test performance is usually observed without weight decay."

The checks: N1 (collapse without generalisation), N2a (⊥AdamW generalises with t_gen <= 2 t_fit, no overfitting
phase), N2b (StableMax generalises; only a budget as long as the paper's can refute it), N2b′ (under StableMax no
training example reaches zero loss), N3 (float64 collapses later) and N3b (float64 reaches a higher test
accuracy at the 70 % split).
"""

from __future__ import annotations

from typing import Literal, Optional

import numpy as np
from pydantic import Field

from grokrepro.claims.kit import (CheckParams, Events, Generalises, SeedShare, Selection, event_times, paired_runs,
                                  seed_share, selects_runs)
from grokrepro.claims.registry import Requires, check
from grokrepro.claims.verdict import CheckResult
from grokrepro.metrics import bootstrap, first_step_reaching

SC = "softmax_collapse"


class CollapseParams(SeedShare):
    # the share of training examples at exactly zero loss that counts as collapse
    sc_share: float = Field(0.5, gt=0, le=1)
    # test accuracy never above this over the whole budget
    max_test_acc: float = Field(0.1, ge=0, le=1)


class GeneraliseParams(Generalises, SeedShare):
    # The paper's own time to generalise in this setting, in steps, where known: a run that has not generalised
    # by the end of a shorter budget says nothing against the paper, so a failure is then inconclusive.
    paper_steps: Optional[int] = Field(None, gt=0)


class DelayParams(CheckParams):
    axis: str = "optimizer"
    # values of `axis`: the arm whose collapse should come later, and the arm it is compared with
    treated: str = "ce_float64"
    baseline: str = "ce_float32"
    sc_share: float = Field(0.5, gt=0, le=1)
    min_ratio: float = Field(1.5, gt=0)
    min_seeds: int = Field(2, ge=1)


def highest_logged(values: np.ndarray) -> np.ndarray:
    """Each run's highest logged value; -inf where nothing was logged (NaN is an unlogged step, not a value)."""
    with np.errstate(all="ignore"):
        return np.nanmax(np.where(np.isfinite(values), values, -np.inf), axis=1)


@check("collapse_without_generalisation", CollapseParams, requires=Requires(metrics=("test_acc",), probes=(SC,)))
@selects_runs(threshold=lambda p: p.min_seed_fraction, probes=(SC,))
def collapse_without_generalisation(sel: Selection, params: CollapseParams) -> CheckResult:
    """N1: on >= min_seed_fraction of the seeds, the share of zero-loss training examples reaches sc_share at
    some logged step, and test accuracy stays <= max_test_acc over the whole budget."""
    runs = sel.runs
    t_sc = first_step_reaching(runs[SC].values, runs["step"].values, params.sc_share)
    peak_sc = np.nanmax(runs[SC].values, axis=1)
    peak_test = np.nanmax(runs["test_acc"].values, axis=1)
    holds = np.isfinite(t_sc) & (peak_test <= params.max_test_acc)
    detail = "; ".join(
        f"seed {int(s)}: SC share peaks at {p:.3f}" + (f", >= {params.sc_share:g} from step {t:g}" if np.isfinite(t)
                                                       else f", never {params.sc_share:g}")
        + f"; test acc at most {a:.3f}" for s, p, t, a in zip(runs["seed"].values, peak_sc, t_sc, peak_test))
    return sel.result(detail=detail + sel.diverged, **seed_share(holds, params.min_seed_fraction))


@check("generalises_without_weight_decay", GeneraliseParams,
       requires=Requires(metrics=("test_acc",), config={"optimizer.weight_decay": 0.0}))
@selects_runs(threshold=lambda p: p.min_seed_fraction)
def generalises_without_weight_decay(sel: Selection, params: GeneraliseParams) -> CheckResult:
    """N2: without weight decay, the runs reach test accuracy gen_acc within their budget on >= min_seed_fraction
    of the seeds. The spec's `where` selects a weight-decay-0 arm (StableMax or ⊥AdamW); the spec validator
    refuses a selection holding any other weight decay, before anything trains."""
    runs = sel.runs
    if "weight_decay" in runs.coords and np.any(runs["weight_decay"].values != 0):
        return sel.inconclusive("the selected runs include weight decay "
                                f"{sorted(set(runs['weight_decay'].values.tolist()))}; this check reads weight decay 0",
                                sel.n_runs)
    steps = runs["step"].values
    t_gen = first_step_reaching(runs["test_acc"].values, steps, params.gen_acc)
    final = runs["test_acc"].values[:, -1]
    holds = np.isfinite(t_gen)
    budget = int(steps[-1])
    detail = "; ".join(f"seed {int(s)}: " + (f"test acc {params.gen_acc:g} at step {t:g}" if np.isfinite(t) else
                                               f"never test acc {params.gen_acc:g} (final {f:.3f})")
                       for s, t, f in zip(runs["seed"].values, t_gen, final))
    detail += f"; budget {budget} steps" + sel.diverged
    result = sel.result(detail=detail, **seed_share(holds, params.min_seed_fraction))
    if not result.passed and params.paper_steps is not None and budget < params.paper_steps:
        result.made_inconclusive(f"the budget ({budget} steps) is shorter than the {params.paper_steps} steps the "
                                 "paper trained this arm for, so not generalising within it says nothing against "
                                 "the paper", first=True)
    return result


def _median_ratio(table: np.ndarray) -> float:
    """Median over seeds of t_SC(treated) / t_SC(baseline); a treated run that never collapses is later than
    any observed time (inf)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = table[:, 0] / table[:, 1]
    return float(np.median(ratios))


@check("collapse_delayed", DelayParams,
       requires=Requires(axes={"{axis}": "any"}, arms={"{axis}": ("{treated}", "{baseline}")}, probes=(SC,)))
# none_match=False: with no healthy run, the check's own answer (no seed has both arms) names the arms
@selects_runs(threshold=lambda p: p.min_ratio, coords=lambda p: (p.axis,), probes=(SC,), none_match=False)
def collapse_delayed(sel: Selection, params: DelayParams) -> CheckResult:
    """N3: the first logged step at which the share of zero-loss training examples reaches sc_share is, in the
    median over seeds of the per-seed ratio, >= min_ratio times later in the treated arm (float64 softmax) than
    in the baseline (float32). A treated run that never collapses is censored (later than any observed time);
    seeds whose baseline never collapses have nothing to delay and are left out."""
    runs, threshold = sel.runs, sel.threshold
    t_sc = first_step_reaching(runs[SC].values, runs["step"].values, params.sc_share)
    seeds, pairs = paired_runs(runs, params.axis, [params.treated, params.baseline])
    if not seeds:
        return sel.inconclusive(f"no seed has runs with {params.axis} = {params.treated!r} and "
                                f"{params.baseline!r} both", sel.n_runs)
    table = t_sc[pairs]
    per_seed = "; ".join(f"seed {int(s)}: {t:g} vs {b:g}" for s, (t, b) in zip(seeds, table))
    collapsed = np.isfinite(table[:, 1])
    if collapsed.sum() < params.min_seeds:
        return sel.inconclusive(f"the baseline ({params.baseline}) reaches SC share {params.sc_share:g} on "
                                f"{int(collapsed.sum())} seeds, fewer than {params.min_seeds}: nothing to delay; "
                                f"first step with SC >= {params.sc_share:g}: {per_seed}", sel.n_runs)
    table = table[collapsed]
    value = _median_ratio(table)
    draws = bootstrap(table, _median_ratio)
    with np.errstate(divide="ignore", invalid="ignore"):
        seed_fraction = float(np.mean(table[:, 0] / table[:, 1] >= threshold))
    resolution = np.diff(runs["step"].values).max() if runs.sizes["step"] > 1 else 0
    detail = (f"first logged step with SC share >= {params.sc_share:g} ({params.treated} vs {params.baseline}; "
              f"inf = never within the budget; logged at most {resolution:g} steps apart): {per_seed}; median "
              f"ratio {value:g} (at least {threshold:g} wanted)" + sel.diverged)
    return sel.result(value, value >= threshold, detail, draws=draws, seed_fraction=seed_fraction,
                      support=float((draws >= threshold).mean()))


# -- revised and added checks ----------------------------------------------------------------------------------
class NoOverfittingParams(Events, SeedShare):
    # t_gen at most this many times t_fit: train and test accuracy rise together, no overfitting phase
    max_delay_ratio: float = Field(2.0, ge=1)


@check("generalises_without_overfitting_phase", NoOverfittingParams,
       requires=Requires(metrics=("test_acc", "train_acc")))
@selects_runs(threshold=lambda p: p.min_seed_fraction)
def generalises_without_overfitting_phase(sel: Selection, params: NoOverfittingParams) -> CheckResult:
    """N2a: on >= min_seed_fraction of the seeds, test accuracy reaches gen_acc and its first step there (t_gen)
    is at most max_delay_ratio x the first step with train accuracy >= fit_acc (t_fit): no overfitting phase.

    A run that has fit but whose budget ends before max_delay_ratio x t_fit without generalising is undecided
    (it may pass, never counts towards a failure)."""
    runs = sel.runs
    t_fit, t_gen = event_times(runs, params)
    budget = float(runs["step"].values[-1])
    holds = np.isfinite(t_gen) & (t_gen <= params.max_delay_ratio * t_fit)
    undecided = ~np.isfinite(t_gen) & np.isfinite(t_fit) & (budget < params.max_delay_ratio * t_fit)

    def one(seed, fit, gen):
        fit_text = f"train acc {params.fit_acc:g} at step {fit:g}" if np.isfinite(fit) else (
            f"never train acc {params.fit_acc:g}")
        if not np.isfinite(gen):
            return f"seed {int(seed)}: {fit_text}, never test acc {params.gen_acc:g}"
        return f"seed {int(seed)}: {fit_text}, test acc {params.gen_acc:g} at step {gen:g} ({gen / fit:.2f}x t_fit)"

    detail = ("; ".join(one(s, f, g) for s, f, g in zip(runs["seed"].values, t_fit, t_gen))
              + f"; at most {params.max_delay_ratio:g}x t_fit wanted; budget {budget:g} steps" + sel.diverged)
    return sel.share_with_undecided(holds, undecided, params.min_seed_fraction, detail,
                                    f"runs end before {params.max_delay_ratio:g}x their t_fit without generalising, "
                                    "so whether they would in time is unknown")


class NoCollapseParams(SeedShare):
    # the share of zero-loss training examples a run may reach at most (0: not one example, ever)
    max_sc_share: float = Field(0.0, ge=0, lt=1)


@check("collapse_prevented", NoCollapseParams, requires=Requires(probes=(SC,)))
@selects_runs(threshold=lambda p: p.min_seed_fraction, probes=(SC,))
def collapse_prevented(sel: Selection, params: NoCollapseParams) -> CheckResult:
    """N2b′: on >= min_seed_fraction of the seeds, the share of training examples at exactly zero loss stays
    <= max_sc_share at every logged step of the budget (the loss keeps a gradient for every example). A run
    whose probe was never logged is undecided."""
    runs = sel.runs
    share = runs[SC].values
    logged = np.isfinite(share).any(axis=1)
    peak = np.where(logged, highest_logged(share), np.nan)
    last = np.array([runs["step"].values[np.isfinite(row)].max() if ok else np.nan
                     for row, ok in zip(share, logged)])
    holds = logged & (peak <= params.max_sc_share)
    detail = "; ".join(f"seed {int(s)}: " + (f"SC share at most {p:.3g} (probe logged to step {t:g})" if ok else
                                              "the probe was never logged")
                       for s, p, t, ok in zip(runs["seed"].values, peak, last, logged))
    detail += f"; at most {params.max_sc_share:g} wanted" + sel.diverged
    return sel.share_with_undecided(holds, ~logged, params.min_seed_fraction, detail,
                                    "runs have no logged softmax_collapse value, so whether they collapse is unknown")


class PeakGainParams(SeedShare):
    axis: str = "optimizer"
    treated: str = "ce_float64"
    baseline: str = "ce_float32"
    metric: Literal["test_acc", "train_acc"] = "test_acc"
    # the treated arm's highest value over the budget at least this much above the baseline's, seed by seed
    min_gain: float = Field(0.1, gt=0, lt=1)
    min_seeds: int = Field(2, ge=1)


@check("higher_peak_accuracy", PeakGainParams,
       requires=Requires(axes={"{axis}": "any"}, arms={"{axis}": ("{treated}", "{baseline}")},
                         metrics=("{metric}",)))
# none_match=False: with no healthy run, the check's own answer (0 seeds have both arms) names the arms
@selects_runs(threshold=lambda p: p.min_seed_fraction, coords=lambda p: (p.axis,), none_match=False)
def higher_peak_accuracy(sel: Selection, params: PeakGainParams) -> CheckResult:
    """N3b: seed by seed, the highest accuracy over the budget is >= min_gain higher in the treated arm than in
    the baseline, on >= min_seed_fraction of the seeds having both. A seed whose baseline peaks above
    1 − min_gain leaves no room for the gain: undecided."""
    peak = highest_logged(sel.runs[params.metric].values)
    seeds, pairs = paired_runs(sel.runs, params.axis, [params.treated, params.baseline])
    table = peak[pairs]
    if len(seeds) < params.min_seeds:
        return sel.inconclusive(f"only {len(seeds)} seeds have healthy runs of both {params.treated!r} and "
                                f"{params.baseline!r}; need {params.min_seeds}"
                                + (f" ({sel.n_diverged} diverged)" if sel.n_diverged else ""), sel.n_runs)
    gain = table[:, 0] - table[:, 1]
    holds = gain >= params.min_gain
    no_room = ~holds & (table[:, 1] > 1 - params.min_gain)
    metric = params.metric.replace("_", " ")
    detail = (f"highest {metric} over the budget, {params.treated} vs {params.baseline}: "
              + "; ".join(f"seed {int(s)}: {t:.3f} vs {b:.3f} (gain {t - b:+.3f})" for s, (t, b) in zip(seeds, table))
              + f"; median gain {float(np.median(gain)):+.3f}, at least {params.min_gain:g} wanted" + sel.diverged)
    return sel.share_with_undecided(holds, no_room, params.min_seed_fraction, detail,
                                    f"seeds' baselines peak above {1 - params.min_gain:g}, leaving no room for a "
                                    f"gain of {params.min_gain:g}", n_runs=len(seeds))
