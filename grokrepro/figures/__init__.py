"""Figures, drawn from saved curves and verdicts only (never by training).

Every claim gets the generic figures (grokrepro.figures.generic); a claim whose name is also a module here
(grokrepro/figures/<claim>.py, with FIGURES and DRAW) gets that module's figures besides, and so does a claim
whose plug-in registers figures (grokrepro.registry.figure). A user's spec draws the generic figures with no
code change.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

from grokrepro.claims.judgement import Verdict
from grokrepro.figures import generic
from grokrepro.figures.common import save
from grokrepro.metrics.curves import read_complete

# Modules here that are helpers, not a claim's figures.
_NOT_CLAIMS = {"common", "generic", "early_abort"}


def claim_module(claim: str) -> ModuleType | None:
    if claim in _NOT_CLAIMS:
        return None
    try:
        module = importlib.import_module(f"grokrepro.figures.{claim}")
    except ModuleNotFoundError as error:
        if error.name != f"grokrepro.figures.{claim}":
            raise  # the module exists but imports something missing: that is a bug to show, not to hide
        return None
    return module if hasattr(module, "FIGURES") and hasattr(module, "DRAW") else None


def _drawers(claim: str) -> dict:
    from grokrepro.registry import CLAIM_FIGURES

    module = claim_module(claim)
    own = {name: module.DRAW[name] for name in module.FIGURES} if module else {}
    own.update(CLAIM_FIGURES.get(claim, {}))  # a plug-in's figures (grokrepro.registry.figure)
    clashes = sorted(set(own) & set(generic.FIGURES))
    if clashes:
        raise ValueError(f"figures of {claim} are named {clashes}, which the generic figures use")
    return {**own, **generic.DRAW}


def figure_names(claim: str) -> tuple[str, ...]:
    """The claim module's figures first, then the generic ones."""
    return tuple(_drawers(claim))


def draw_figures(spec, curves_path, verdict_path, outdir, only: str | None = None) -> None:
    drawers = _drawers(spec.claim)
    if only is not None and only not in drawers:
        raise ValueError(f"{spec.claim} has no figure {only!r}; it has {list(drawers)}")
    curves = read_complete(curves_path)
    # The typed verdict (figures find its checks by kind and read their validated params); an empty file ({})
    # stands for no verdict yet: figures then read the spec the curves were trained under.
    fields = json.loads(Path(verdict_path).read_text())
    verdict = Verdict.model_validate(fields) if fields else {}
    Path(outdir).mkdir(parents=True, exist_ok=True)
    for name in [only] if only else drawers:
        save(drawers[name](curves, verdict), Path(outdir) / f"{name}.png")
