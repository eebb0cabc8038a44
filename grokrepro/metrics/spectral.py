"""Spectral features of an early learning curve (Notsawo et al. 2023): remove the curve's slow part, then
measure what is left by its Hjorth parameters.

Hjorth parameters of a signal x (discrete steps, differences for derivatives):
  activity   = var(x)                        the power, = the integral of |F(x)|² by Parseval
  mobility   = sqrt(var(Δx) / var(x))        a mean frequency, in radians per step
  complexity = mobility(Δx) / mobility(x)    1 for a pure sinusoid, larger for a spread spectrum

The paper names no filter, cutoff or window, so each is a parameter; `EarlyLossPredictor` (spec schema)
bundles the choices, and the same function serves the claim's checks and the trainer's early abort.
"""

from __future__ import annotations

import numpy as np

FEATURES = ("activity", "mobility", "complexity")


def moving_average_residual(x: np.ndarray, window: int) -> np.ndarray:
    """x minus its centred moving average, on the stretch where the whole window fits (no edge effects)."""
    x = np.asarray(x, dtype=float)
    window = max(1, min(int(window), len(x)))
    average = np.convolve(x, np.ones(window) / window, mode="valid")
    start = (window - 1) // 2
    return x[start : start + len(average)] - average


def band_pass(x: np.ndarray, low: float, high: float = np.inf) -> np.ndarray:
    """Keep the Fourier components of x with frequencies in [low, high] (cycles per step).

    A finite stretch of a falling curve is no periodic signal: filtered as it is, the jump from its last value
    back to its first rings through every frequency. So the line through the end points is removed first (the
    ends become 0) and the curve is extended by its negated mirror image, which continues it with a continuous
    value and slope; the filter then sees a trend's curvature as the slow bump it is."""
    x = np.asarray(x, dtype=float)
    without_ramp = x - np.linspace(x[0], x[-1], len(x))
    extended = np.concatenate([without_ramp, -without_ramp[-2:0:-1]])
    spectrum_ = np.fft.rfft(extended)
    frequencies = np.fft.rfftfreq(len(extended))
    spectrum_[(frequencies < low) | (frequencies > high)] = 0
    return np.fft.irfft(spectrum_, n=len(extended))[: len(x)]


def detrended(x: np.ndarray, method: str, smoothing: int = 25, cutoff: float = 0.04,
              band: tuple[float, float] = (0.01, 0.05)) -> np.ndarray:
    """The oscillating part of an early curve, by one of three readings of the paper's filter."""
    if method == "moving_average":
        return moving_average_residual(x, smoothing)
    if method == "high_pass":
        return band_pass(x, cutoff)
    if method == "low_band":
        return band_pass(x, *band)
    raise ValueError(f"unknown detrending method {method!r}")


def hjorth(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, dtype=float)
    if len(x) < 3 or not np.isfinite(x).all():
        return {name: float("nan") for name in FEATURES}
    first, second = np.diff(x), np.diff(x, n=2)
    activity = float(np.var(x))
    mobility = float(np.sqrt(np.var(first) / activity)) if activity > 0 else float("nan")
    mobility_of_first = float(np.sqrt(np.var(second) / np.var(first))) if np.var(first) > 0 else float("nan")
    return {"activity": activity, "mobility": mobility, "complexity": mobility_of_first / mobility}


def spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (cycles per step) and power |F(x)|² / n of a detrended curve, for figures."""
    x = np.asarray(x, dtype=float)
    return np.fft.rfftfreq(len(x)), np.abs(np.fft.rfft(x)) ** 2 / len(x)


def early_signal(train_loss: np.ndarray, steps: np.ndarray, predictor) -> np.ndarray:
    """(run, K) training loss (or its log) at steps 0..K-1; NaN rows where a step was not logged."""
    steps = np.asarray(steps)
    wanted = np.arange(predictor.window)
    columns = np.searchsorted(steps, wanted)
    columns = np.minimum(columns, len(steps) - 1)
    logged = steps[columns] == wanted
    values = np.asarray(train_loss, dtype=float)[:, columns]
    values[:, ~logged] = np.nan
    if predictor.signal == "log_loss":
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.log(values)
    return values


def early_features(train_loss: np.ndarray, steps: np.ndarray, predictor) -> dict[str, np.ndarray]:
    """Each run's Hjorth parameters of its detrended early training loss: name -> (run,) array."""
    signal = early_signal(train_loss, steps, predictor)
    rows = [hjorth(detrended(row, predictor.detrend, predictor.smoothing, predictor.cutoff, predictor.band))
            if np.isfinite(row).all() else hjorth(np.array([]))
            for row in signal]
    return {name: np.array([row[name] for row in rows]) for name in FEATURES}


def predicted_to_grok(feature: np.ndarray, predictor) -> np.ndarray:
    """The predictor's call per run; a run whose feature could not be computed is predicted to grok (kept)."""
    feature = np.asarray(feature, dtype=float)
    with np.errstate(invalid="ignore"):
        call = feature >= predictor.threshold if predictor.groks_when == "above" else feature <= predictor.threshold
    return call | ~np.isfinite(feature)
