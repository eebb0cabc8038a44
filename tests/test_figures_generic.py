"""The figures every spec gets from its curves alone, and how claim modules are found by name."""

import json

import numpy as np
import pandas as pd
import pytest

from grokrepro.figures import claim_module, draw_figures, figure_names, generic
from grokrepro.figures.common import plt, save, seed_band_relplot
from grokrepro.metrics.curves import write_atomic
from helpers import resolved, synthetic_curves, tiny_spec


def curves_with_spec(sweep):
    curves = synthetic_curves([150, 300], [3000, 6000], [0.5, 0.3], [1, 2])
    curves.attrs["spec_json"] = json.dumps({"sweep": [sweep], "checks": []})
    curves["param_norm"] = curves["train_acc"] * 0 + np.linspace(1, 500, curves.sizes["step"])
    curves["train_loss"] = 1.1 - curves["train_acc"]
    curves["test_loss"] = 1.1 - curves["test_acc"]
    return curves


def test_sweep_axes_come_from_the_spec_and_must_vary():
    curves = curves_with_spec({"task.train_fraction": [0.3, 0.5], "optimizer.weight_decay": [1.0]})
    assert generic.sweep_axes(curves) == ["train_fraction"]  # weight decay is swept over one value only
    assert sorted(set(generic.configuration_labels(curves))) == ["train_fraction=0.3", "train_fraction=0.5"]
    assert generic.probe_variables(curves) == ["param_norm"]


def test_every_generic_figure_draws_for_a_classification_sweep(tmp_path):
    curves = curves_with_spec({"task.train_fraction": [0.3, 0.5]})
    for name in generic.FIGURES:
        save(generic.DRAW[name](curves, {}), tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 5000, name


def test_seed_bands_draw_the_mean_over_seeds_and_their_min_max():
    # two configurations x two metrics x three seeds; the seeds of one line differ by 0, 1, 2 at every step
    steps = np.array([1, 10, 100])
    table = pd.DataFrame([{"configuration": c, "metric": m, "seed": seed, "step": s,
                           "value": base + seed + np.log10(s)}
                          for c, base in (("b", 10.0), ("a", 20.0)) for m in ("train", "test")
                          for seed in (0, 1, 2) for s in steps])
    table.loc[table["metric"] == "test", "value"] += 100
    grid = seed_band_relplot(table, hue="metric", col="configuration")
    assert list(grid.axes_dict) == ["b", "a"]  # panels in the order they first appear, as seaborn orders them
    axis = grid.axes_dict["a"]
    lines = {tuple(line.get_ydata()) for line in axis.get_lines()}
    assert lines == {tuple(20.0 + 1 + np.log10(steps)), tuple(120.0 + 1 + np.log10(steps))}  # means
    bands = [band.get_paths()[0].vertices[:, 1] for band in axis.collections]
    assert len(bands) == 2
    assert sorted((band.min(), band.max()) for band in bands) == [(20.0, 24.0), (120.0, 124.0)]  # min, max
    colours = {line.get_color() for line in axis.get_lines()}
    assert len(colours) == 2  # one colour per metric, shared by its band
    plt.close(grid.figure)


def test_event_times_censor_runs_that_never_generalise():
    curves = synthetic_curves([150], [np.inf], [0.5], [1, 2])
    times = generic.event_times(curves)
    assert times["t_fit (train acc >= 0.99)"].tolist() == [150, 150]
    assert np.isinf(times["t_gen (test acc >= 0.95)"]).all()


def test_a_claim_without_a_module_gets_the_generic_figures(tmp_path):
    assert claim_module("no_such_claim") is None and claim_module("common") is None
    assert figure_names("no_such_claim") == generic.FIGURES
    assert figure_names("grokking")[:len(claim_module("grokking").FIGURES)] == claim_module("grokking").FIGURES
    curves = curves_with_spec({"optimizer.weight_decay": [0.1, 1.0]})
    write_atomic(curves, tmp_path / "curves.nc")
    (tmp_path / "verdict.json").write_text("{}")
    spec = resolved(tiny_spec(claim="no_such_claim"))
    draw_figures(spec, tmp_path / "curves.nc", tmp_path / "verdict.json", tmp_path / "figures")
    assert sorted(p.stem for p in (tmp_path / "figures").glob("*.png")) == sorted(generic.FIGURES)
    with pytest.raises(ValueError, match="has no figure"):
        draw_figures(spec, tmp_path / "curves.nc", tmp_path / "verdict.json", tmp_path, only="roc_curve")
