"""Shared plotting set-up: headless backend, one style, atomic PNG writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import xarray as xr  # noqa: E402

sns.set_theme(style="whitegrid", context="paper")


def spec_check(curves: xr.Dataset, kind: str) -> dict | None:
    """The first check of this kind in the spec that made these curves (its JSON is in their attributes), so
    that a figure draws the thresholds and selections the verdict used; None if the spec has no such check."""
    checks = json.loads(curves.attrs.get("spec_json", "{}")).get("checks", [])
    return next((check for check in checks if check.get("kind") == kind), None)


def spec_check_params(curves: xr.Dataset, kind: str, params_class):
    """A check's params as the spec that made these curves sets them, read as `params_class` (fields it lacks
    are dropped: a figure may read only part of a check's params); the defaults where the spec sets none."""
    given = (spec_check(curves, kind) or {}).get("params") or {}
    return params_class(**{k: v for k, v in given.items() if k in params_class.model_fields})


def judged_check(verdict, kind: str):
    """The verdict's record of the first check of this kind (a `judgement.CheckRecord`), or None: figures find
    checks by kind, never by the name a spec gives them. `verdict`: a Verdict, or a mapping of its fields
    (draw_figures hands a Verdict; a mapping may hold only some fields, e.g. no checks at all)."""
    from grokrepro.claims.judgement import CheckRecord, Verdict

    if isinstance(verdict, Verdict):
        return verdict.check(kind=kind)
    record = next((c for c in (verdict or {}).get("checks", []) if c.get("kind") == kind), None)
    return CheckRecord.model_validate(record) if record is not None else None


def other_claims_curves(verdict, claim: str) -> Path | None:
    """The curves file of another claim that the verdict's checks read (listed in its `data`)."""
    from grokrepro.claims.judgement import Verdict

    data = verdict.data if isinstance(verdict, Verdict) else (verdict or {}).get("data", [])
    return next((Path(p) for p in data if Path(p).parent.name == claim), None)


def judged_params(verdict, curves: xr.Dataset, kind: str, params_class):
    """The params a check of this kind was judged with: from the verdict's record, validated by the kind's
    model (defaults filled in, never re-typed here); without a verdict, as the spec in the curves sets them."""
    record = judged_check(verdict, kind)
    if record is not None:
        return record.validated_params()
    return spec_check_params(curves, kind, params_class)


def judged_where(verdict, kind: str) -> dict:
    """The runs the verdict's check of this kind selected (every run without one)."""
    record = judged_check(verdict, kind)
    return dict(record.where) if record is not None else {}


def long_table(curves: xr.Dataset, variables: list[str], by: list[str]) -> pd.DataFrame:
    """(run, step) variables as a tidy table with the run coordinates `by` as columns."""
    frame = curves[variables].to_dataframe()[variables].reset_index()
    coords = curves[by + ["seed"]].to_dataframe().reset_index()
    coords = coords[["run"] + [c for c in by + ["seed"] if c in coords.columns]]
    frame = frame.merge(coords, on="run")
    return frame.melt(id_vars=["run", "step", "seed", *by], value_vars=variables, var_name="metric")


def seed_band_relplot(table: pd.DataFrame, *, hue: str | None, col: str, palette=None, **relplot_kws):
    """What sns.relplot(kind="line", errorbar=("pi", 100)) draws from a tidy (step, value) table: per hue level and
    panel, the mean over seeds as a line and the min-max band around it. The mean and band are computed here
    in one pandas groupby, not by seaborn, whose aggregator runs once per x value (a minute for 30
    configurations of 400 logged steps); levels and panels keep seaborn's order and colours."""
    keys = [col, *([hue] if hue else []), "step"]
    summary = table.groupby(keys, sort=False, observed=True)["value"].agg(["mean", "min", "max"]).reset_index()
    summary = summary.rename(columns={"mean": "value"})
    levels = _levels(summary[hue]) if hue else [None]
    if isinstance(palette, dict):
        colours = palette
    else:  # seaborn's choice: the current palette while it has enough colours, husl beyond
        name = palette or (None if len(levels) <= len(sns.color_palette()) else "husl")
        colours = dict(zip(levels, sns.color_palette(name, len(levels))))
    grid = sns.relplot(data=summary, x="step", y="value", col=col, kind="line", estimator=None, errorbar=None,
                       **({"hue": hue, "hue_order": levels, "palette": colours} if hue else {}), **relplot_kws)
    for panel, axis in grid.axes_dict.items():
        in_panel = summary[summary[col] == panel]
        for level in levels:
            line = in_panel if hue is None else in_panel[in_panel[hue] == level]
            line = line.sort_values("step")
            axis.fill_between(line["step"], line["min"], line["max"], color=colours[level], alpha=0.2, linewidth=0)
    return grid


def _levels(values: pd.Series) -> list:
    """Hue levels in seaborn's order: sorted when numeric, else as they first appear."""
    levels = list(pd.unique(values.dropna()))
    return sorted(levels) if pd.api.types.is_numeric_dtype(values) else levels


# The PNG text key a figure's description travels under: the report reads it back as the image's alt text and
# caption, so what a figure shows in numbers is readable without the picture, and no extra file follows the PNG.
DESCRIPTION_KEY = "Description"


def describe(figure, text: str):
    """Attach a plain-text description (what the figure shows, with its numbers) for `save` to write."""
    figure.grokrepro_description = text
    return figure


def description(figure) -> str:
    return getattr(figure, "grokrepro_description", "")


def read_description(png: Path) -> str:
    """The description `save` wrote into a PNG ('' for a PNG without one)."""
    from PIL import Image

    with Image.open(png) as image:
        return image.text.get(DESCRIPTION_KEY, "") if hasattr(image, "text") else ""


def save(figure, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.png")
    text = description(figure)
    figure.savefig(partial, dpi=110, bbox_inches="tight", metadata={DESCRIPTION_KEY: text} if text else None)
    plt.close(figure)
    os.replace(partial, path)
