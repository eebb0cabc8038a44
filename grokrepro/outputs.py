"""Where a workflow run writes: one tree per scale and seed set, so that no run overwrites another's results.

    results/<scale>[-<seed set>]/   trained runs, curves, verdicts, figures
    logs/<scale>[-<seed set>]/      one log per job
    paper[-<scale>][-<seed set>]/   the published verdicts, figures and report

The default scale on the verdict seeds publishes in plain `paper/`, the tree a reader opens; a smoke test or a
development rerun can never replace what is there.
"""

from __future__ import annotations

import re

from grokrepro.spec.schema import SCALES

DEFAULT_SCALE = "default"
VERDICT_SEEDS = "verdict"
SEED_SETS = (VERDICT_SEEDS, "development")


def seed_suffix(seed_set: str) -> str:
    return "" if seed_set == VERDICT_SEEDS else f"-{seed_set}"


def results_dir(scale: str, seed_set: str) -> str:
    return f"results/{scale}{seed_suffix(seed_set)}"


def logs_dir(scale: str, seed_set: str) -> str:
    return f"logs/{scale}{seed_suffix(seed_set)}"


def published_dir(scale: str, seed_set: str) -> str:
    """paper/ at the default scale, paper-<scale>/ at any other; a seed set other than the verdict seeds adds
    its own suffix (paper-development/, paper-smoke-development/)."""
    scale_suffix = "" if scale == DEFAULT_SCALE else f"-{scale}"
    return f"paper{scale_suffix}{seed_suffix(seed_set)}"


def config_of_published_dir(tree: str) -> dict[str, str] | None:
    """The scale and seed set whose run publishes in `tree` (the inverse of published_dir), or None."""
    pattern = rf"paper(?:-({'|'.join(SCALES)}))?(?:-({'|'.join(SEED_SETS[1:])}))?"
    match = re.fullmatch(pattern, tree)
    if not match:
        return None
    return {"scale": match[1] or DEFAULT_SCALE, "seed_set": match[2] or VERDICT_SEEDS}


def _settings(scale: str, seed_set: str) -> str:
    return f"scale={scale}" + ("" if seed_set == VERDICT_SEEDS else f" seed_set={seed_set}")


def wrong_tree_message(tree: str, path: str, scale: str, seed_set: str) -> str:
    """One line for a target in another run's tree: where this run publishes, and which run publishes in `tree`."""
    here = published_dir(scale, seed_set)
    message = f"grokrepro: {_settings(scale, seed_set)} publishes in {here}/, not {tree}/: ask for {here}/{path}"
    other = config_of_published_dir(tree)
    if other is not None:
        message += f" ({tree}/ is --config {_settings(**other)})"
    return message
