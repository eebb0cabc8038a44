"""Nanda, Chan, Lieberum, Smith, Steinhardt 2023 ("Progress measures for grokking via mechanistic
interpretability"): the grokked one-layer transformer on a+b mod p computes with a few key Fourier frequencies
(K1); the restricted loss (logits kept to those frequencies) falls well before the test loss does (K2); the
excluded loss (those frequencies removed) rises while the training loss stays low, before the network
generalises (K3: circuit formation, between memorisation and cleanup).

All three read the `fourier_progress` probe (grokrepro/probes/fourier_progress.py). Each holds or not per seed;
a check passes when it holds on >= min_seed_fraction of the seeds (bootstrap over seeds)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field

from grokrepro.claims.registry import Requires, check
from grokrepro.claims.verdict import CheckResult, healthy_runs, inconclusive, judged, select_runs
from grokrepro.metrics import bootstrap, first_step_reaching, interval

PROBE = "fourier_progress"


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


class FewFrequenciesParams(Params):
    # at most this many frequencies carry the probe's `share` of the logits' variance at the end
    max_frequencies: int = Field(7, gt=0)


class LeadParams(Params):
    # the loss (nats) both curves must fall to; the restricted curve read is the probe's all-pairs one (the
    # authors') or its test-pairs one
    level: float = Field(gt=0)
    restricted: Literal["restricted_loss", "restricted_test_loss"] = "restricted_loss"
    # the restricted loss reaches `level` at least this share of the test loss's step earlier
    min_lead: float = Field(0.1, gt=0, lt=1)


class RiseParams(Params):
    fit_acc: float = Field(0.99, gt=0, le=1)
    gen_acc: float = Field(0.95, gt=0, le=1)
    # between fitting and generalising the excluded loss rises >= min_rise x from its lowest value before ...
    min_rise: float = Field(10.0, gt=1)
    # ... while the training loss stays <= max_train_loss (nats) up to the excluded loss's peak
    max_train_loss: float = Field(0.1, gt=0)
    # seeds whose window [t_fit, t_gen] holds fewer probed steps say nothing; fewer measured seeds: inconclusive
    min_points: int = Field(3, ge=2)
    min_seeds: int = Field(2, ge=1)


def _runs(curves: xr.Dataset, spec_check, threshold, variables: tuple[str, ...]):
    """(runs, n_diverged, None) or (None, None, an inconclusive result) when nothing can be read."""
    runs, n_diverged = healthy_runs(select_runs(curves, spec_check.where))
    if runs.sizes["run"] == 0:
        return None, None, inconclusive(spec_check, threshold, f"no healthy runs match {spec_check.where} "
                                        f"({n_diverged} diverged)")
    missing = [v for v in variables if v not in runs]
    if missing:
        return None, None, inconclusive(spec_check, threshold, f"the curves have no {missing} (train.probes needs "
                                        f"{{kind: {PROBE}}})", int(runs.sizes["run"]))
    return runs, n_diverged, None


def _share_result(spec_check, holds: np.ndarray, threshold: float, detail: str, n_runs: int,
                  n_diverged: int) -> CheckResult:
    share = float(holds.mean())
    draws = bootstrap(holds.astype(float), np.mean)
    return judged(CheckResult(
        spec_check.name, spec_check.statement, share, threshold, share >= threshold, "",
        interval=list(interval(draws)), seed_fraction=share, support=float((draws >= threshold).mean()),
        n_runs=n_runs, where=dict(spec_check.where),
        detail=detail + (f"; {n_diverged} diverged runs left out" if n_diverged else "")))


def last_measured(values: np.ndarray) -> np.ndarray:
    """Each run's last probed value (NaN where never probed)."""
    measured = ~np.isnan(values)
    last = np.where(measured.any(1), values.shape[1] - 1 - np.argmax(measured[:, ::-1], axis=1), 0)
    return np.where(measured.any(1), values[np.arange(len(values)), last], np.nan)


def first_step_below(values: np.ndarray, steps: np.ndarray, level: float) -> np.ndarray:
    """Each run's first logged step with a value <= level (+inf if never; unprobed steps never count)."""
    return first_step_reaching(np.where(np.isnan(values), np.nan, -values), steps, -level)


@check("few_key_frequencies", FewFrequenciesParams, requires=Requires(probes=(PROBE,)))
def few_key_frequencies(curves: xr.Dataset, spec_check, params: FewFrequenciesParams) -> CheckResult:
    """K1: at the end of training, at most max_frequencies frequencies carry the probe's share (0.9 by default) of
    the logits' variance, on >= min_seed_fraction of the seeds."""
    threshold = params.min_seed_fraction
    runs, n_diverged, unread = _runs(curves, spec_check, threshold, ("frequencies_for_share", "key_frequency_share"))
    if unread:
        return unread
    count = last_measured(runs["frequencies_for_share"].values)
    key_share = last_measured(runs["key_frequency_share"].values)
    top = last_measured(runs["top_frequency"].values) if "top_frequency" in runs else np.full(len(count), np.nan)
    if np.isnan(count).all():
        return inconclusive(spec_check, threshold, "the probe never measured these runs", int(runs.sizes["run"]))
    holds = count <= params.max_frequencies
    detail = "; ".join(
        f"seed {int(s)}: " + (f"{c:g} frequencies carry the probe's share" if np.isfinite(c) else
                              "no number of frequencies carries the probe's share")
        + f", the key frequencies {k:.3f} of the variance, the strongest k = {t:g}"
        for s, c, k, t in zip(runs["seed"].values, count, key_share, top))
    return _share_result(spec_check, holds, threshold, f"at the last probed step: {detail} (at most "
                         f"{params.max_frequencies} wanted)", int(runs.sizes["run"]), n_diverged)


@check("restricted_loss_leads", LeadParams, requires=Requires(metrics=("test_loss",), probes=(PROBE,)))
def restricted_loss_leads(curves: xr.Dataset, spec_check, params: LeadParams) -> CheckResult:
    """K2: the restricted loss reaches `level` at least min_lead x t_test steps before the test loss does.

    t_test is the test loss's first logged step at or below `level`; it must hold on >= min_seed_fraction of the
    seeds. A run whose test loss never falls that far has no grokking to lead, and one whose restricted loss
    never does, no lead."""
    threshold = params.min_seed_fraction
    runs, n_diverged, unread = _runs(curves, spec_check, threshold, (params.restricted,))
    if unread:
        return unread
    steps = runs["step"].values
    t_restricted = first_step_below(runs[params.restricted].values, steps, params.level)
    t_test = first_step_below(runs["test_loss"].values, steps, params.level)
    with np.errstate(invalid="ignore"):
        lead = t_test - t_restricted
        holds = np.isfinite(t_test) & np.isfinite(t_restricted) & (lead >= params.min_lead * t_test)
    probed = np.nonzero(~np.isnan(runs[params.restricted].values).all(0))[0]
    resolution = np.diff(steps[probed]).max() if len(probed) > 1 else np.inf
    detail = "; ".join(
        f"seed {int(s)}: {params.restricted.replace('_', ' ')} <= {params.level:g} at step {r:g}, test loss at "
        f"{t:g}" + (f" (lead {t - r:g} = {(t - r) / t:.2f} of t_test)" if np.isfinite(r) and np.isfinite(t) else "")
        for s, r, t in zip(runs["seed"].values, t_restricted, t_test))
    return _share_result(spec_check, holds, threshold, f"{detail} (inf = never; lead >= {params.min_lead:g} of "
                         f"t_test wanted; the probe measured every {resolution:g} steps)", int(runs.sizes["run"]),
                         n_diverged)


def excluded_rise(excluded: np.ndarray, train_loss: np.ndarray, window: np.ndarray) -> tuple[float, float, int]:
    """(largest rise of the excluded loss over its lowest value before it, the largest training loss up to that
    peak, the peak's index) over the probed steps of `window` (a boolean mask of one run's steps)."""
    index = np.nonzero(window & ~np.isnan(excluded))[0]
    values = excluded[index]
    rise = values / np.minimum.accumulate(values)
    peak = int(np.argmax(rise))
    upto = np.arange(len(train_loss)) <= index[peak]
    return float(rise[peak]), float(np.nanmax(np.where(window & upto, train_loss, np.nan))), int(index[peak])


@check("excluded_loss_rises", RiseParams,
       requires=Requires(metrics=("train_acc", "test_acc", "train_loss"), probes=(PROBE,)))
def excluded_loss_rises(curves: xr.Dataset, spec_check, params: RiseParams) -> CheckResult:
    """K3: between fitting and generalising, the excluded loss rises >= min_rise x while the training loss stays low.

    t_fit is the first step with train accuracy >= fit_acc, t_gen with test accuracy >= gen_acc (else the end);
    the rise is over the excluded loss's lowest value before, the training loss must stay <= max_train_loss up to
    the peak, and it must hold on >= min_seed_fraction of the measured seeds."""
    threshold = params.min_seed_fraction
    runs, n_diverged, unread = _runs(curves, spec_check, threshold, ("excluded_loss",))
    if unread:
        return unread
    steps = runs["step"].values
    t_fit = first_step_reaching(runs["train_acc"].values, steps, params.fit_acc)
    t_gen = first_step_reaching(runs["test_acc"].values, steps, params.gen_acc)
    excluded, train_loss = runs["excluded_loss"].values, runs["train_loss"].values
    holds, parts, measured = [], [], 0
    for k, seed in enumerate(runs["seed"].values):
        if not np.isfinite(t_fit[k]):
            holds.append(False)
            parts.append(f"seed {int(seed)}: never fits the training set (train acc {params.fit_acc:g})")
            measured += 1
            continue
        window = (steps >= t_fit[k]) & (steps <= t_gen[k])
        if (window & ~np.isnan(excluded[k])).sum() < params.min_points:
            parts.append(f"seed {int(seed)}: fewer than {params.min_points} probed steps in [{t_fit[k]:g}, "
                         f"{t_gen[k]:g}], not measured")
            continue
        measured += 1
        rise, worst_train, peak = excluded_rise(excluded[k], train_loss[k], window)
        holds.append(rise >= params.min_rise and worst_train <= params.max_train_loss)
        parts.append(f"seed {int(seed)}: in [{t_fit[k]:g}, {t_gen[k]:g}] the excluded loss rises {rise:.3g}x to "
                     f"{excluded[k][peak]:.3g} at step {steps[peak]:g}, train loss at most {worst_train:.3g} until then")
    detail = "; ".join(parts) + (f" (rise >= {params.min_rise:g}x with train loss <= {params.max_train_loss:g} "
                                 f"wanted; t_gen = inf: never generalises, the window runs to the end)")
    if measured < params.min_seeds:
        return inconclusive(spec_check, threshold, f"{measured} seeds measured, fewer than {params.min_seeds}: "
                            + detail, int(runs.sizes["run"]))
    return _share_result(spec_check, np.array(holds), threshold, detail, int(runs.sizes["run"]), n_diverged)
