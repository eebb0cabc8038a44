"""Per-claim figures, drawn from saved curves and verdicts only (never by training)."""

from __future__ import annotations

import json
from pathlib import Path

from grokrepro.figures import (
    critical_dataset_size,
    grokking,
    kernel_vs_rich,
    lazy_to_rich,
    lmn_compression,
    semi_grokking,
    spectral_prediction,
    ungrokking,
)
from grokrepro.figures.common import save
from grokrepro.metrics.curves import read_complete

CLAIM_FIGURES = {
    "grokking": grokking,
    "lazy_to_rich": lazy_to_rich,
    "lmn_compression": lmn_compression,
    "critical_dataset_size": critical_dataset_size,
    "ungrokking": ungrokking,
    "semi_grokking": semi_grokking,
    "spectral_prediction": spectral_prediction,
    "kernel_vs_rich": kernel_vs_rich,
}


def figure_names(claim: str) -> tuple[str, ...]:
    return CLAIM_FIGURES[claim].FIGURES if claim in CLAIM_FIGURES else ()


def draw_figures(spec, curves_path, verdict_path, outdir, only: str | None = None) -> None:
    module = CLAIM_FIGURES[spec.claim]
    if only is not None and only not in module.FIGURES:
        raise ValueError(f"{spec.claim} has no figure {only!r}; it has {list(module.FIGURES)}")
    curves = read_complete(curves_path)
    verdict = json.loads(Path(verdict_path).read_text())
    for name in [only] if only else module.FIGURES:
        save(module.DRAW[name](curves, verdict), Path(outdir) / f"{name}.png")
