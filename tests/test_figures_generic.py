"""The figures every spec gets from its curves alone, and how claim modules are found by name."""

import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import copy_workflow
from grokrepro.figures import claim_module, draw_figures, figure_names, generic
from grokrepro.figures.common import description, plt, read_description, save, seed_band_relplot
from grokrepro.metrics.curves import write_atomic
from grokrepro.metrics import first_step_reaching
from grokrepro.metrics.curves import read_complete
from helpers import resolved, synthetic_curves, tiny_spec
from test_report_browser import CHROMIUM, browser, open_report  # noqa: F401 (browser: a fixture)


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


# -- time to threshold -------------------------------------------------------------------------------------------

T_FIT, T_GEN = "t_fit (train acc >= 0.99)", "t_gen (test acc >= 0.95)"


def with_axes(curves, sweep, **categorical):
    """Synthetic curves as a spec with `sweep` made them, categorical run coordinates added."""
    # object dtype, as a string coordinate may come back from netCDF
    curves = curves.assign_coords({name: ("run", np.array(values, dtype=object))
                                   for name, values in categorical.items()})
    curves.attrs["spec_json"] = json.dumps({"sweep": [sweep], "checks": []})
    return curves


def operations_by_fraction():
    """x+y generalises fast, x^2+xy+y^2 slowly; at each fraction one of three seeds of one operation never does."""
    t_gen = [[500, 600, np.inf], [400, 450, 500], [300, 320, np.inf],
             [2000, 2500, 3000], [1500, 1600, np.inf], [1000, 1100, 1200]]
    curves = synthetic_curves([100] * 6, t_gen, [0.3, 0.5, 0.7] * 2, [1, 2, 3])
    return with_axes(curves, {"task.operation": ["x+y", "x^2+xy+y^2"], "task.train_fraction": [0.3, 0.5, 0.7]},
                     operation=["x+y"] * 9 + ["x^2+xy+y^2"] * 9)


def optimiser_comparison():
    """adamw generalises on every seed; sgd fits later and generalises on one seed of three."""
    curves = synthetic_curves([[100, 120, 150], [400, 500, 9000]], [[800, 900, 1200], [np.inf, np.inf, 7000]],
                              [0.5, 0.5], [200, 201, 202])
    return with_axes(curves, {"optimizer": [{"name": "adamw"}, {"name": "sgd"}]},
                     optimizer=["adamw"] * 3 + ["sgd"] * 3)


def lines_by_label(axis) -> dict[str, tuple]:
    return {line.get_label(): (tuple(line.get_xdata()), tuple(line.get_ydata())) for line in axis.get_lines()
            if not line.get_label().startswith("_")}


def open_triangles(axis) -> np.ndarray:
    """The (x, y) of every open-triangle marker (a censored run) drawn on `axis`."""
    points = [c.get_offsets() for c in axis.collections
              if len(c.get_offsets()) and len(c.get_facecolors()) == 0 and c.get_paths()[0].vertices.shape[0] == 4]
    return np.concatenate(points) if points else np.empty((0, 2))


def test_medians_leave_out_runs_that_never_reached_the_threshold():
    table = generic.event_time_table(operations_by_fraction())
    medians = generic.median_times(table[table["event"] == T_GEN], ["operation", "train_fraction"])
    at = medians.set_index(["operation", "train_fraction"])
    # seeds 500, 600 and one censored: the median of the two reached, not the 600 that ranking the censored
    # run last would give (nor the budget)
    assert at.loc[("x+y", 0.3), "median"] == 550 and at.loc[("x+y", 0.3), ["reached", "runs"]].tolist() == [2, 3]
    assert at.loc[("x+y", 0.5), "median"] == 450 and at.loc[("x+y", 0.5), "reached"] == 3
    assert at.loc[("x^2+xy+y^2", 0.5), "median"] == 1550
    everyone_censored = generic.median_times(table.assign(censored=True), ["operation"])
    assert everyone_censored["median"].isna().all() and (everyone_censored["reached"] == 0).all()


def test_time_to_threshold_draws_one_line_per_operation_with_censored_runs_apart():
    figure = generic.all_runs_time_to_threshold(operations_by_fraction(), {})
    fit_axis, gen_axis = figure.axes[:2]  # rows: events; one column for the one numeric axis
    assert gen_axis.get_xlabel() == "train_fraction"
    lines = lines_by_label(gen_axis)
    assert set(lines) == {"operation=x+y", "operation=x^2+xy+y^2"}  # never one line pooling both operations
    assert lines["operation=x+y"] == ((0.3, 0.5, 0.7), (550.0, 450.0, 310.0))
    assert lines["operation=x^2+xy+y^2"] == ((0.3, 0.5, 0.7), (2500.0, 1550.0, 1100.0))
    # the three censored seeds: open triangles at the budget, at their own fractions
    triangles = open_triangles(gen_axis)
    assert sorted(map(tuple, triangles)) == [(0.3, 10000.0), (0.5, 10000.0), (0.7, 10000.0)]
    assert len(open_triangles(fit_axis)) == 0  # every run fit
    assert "operation=x+y: train_fraction=0.3 median 550 (2 of 3 seeds reached it)" in description(figure)
    plt.close(figure)


def test_a_numeric_axis_that_only_moves_with_the_arm_is_not_drawn_against():
    # budget set per label kind (as critical_dataset_size does): no line has two budgets, so no budget panel
    curves = synthetic_curves([100, 100, 100, 100], [500, 600, np.inf, np.inf], [0.3, 0.5, 0.3, 0.5], [1])
    curves = with_axes(curves, {"task.labels": ["true", "random"], "task.train_fraction": [0.3, 0.5],
                                "train.steps": [20000, 40000]},
                       labels=["true", "true", "random", "random"], steps=[20000, 20000, 40000, 40000])
    table = generic.event_time_table(curves)
    assert generic.numeric_axes_to_draw(table, generic.sweep_axes(curves)) == ["train_fraction"]
    figure = generic.all_runs_time_to_threshold(curves, {})
    assert set(lines_by_label(figure.axes[1])) == {"labels=true, steps=20000", "labels=random, steps=40000"}
    plt.close(figure)


def test_an_optimiser_comparison_gets_t_gen_per_arm_and_seed():
    curves = optimiser_comparison()
    table = generic.event_time_table(curves)
    gen = table[table["event"] == T_GEN].set_index(["optimizer", "seed"])
    assert gen.loc[("adamw", 201), "time"] == 900 and not gen.loc[("adamw", 201), "censored"]
    assert gen.loc[("sgd", 200), "censored"] and gen.loc[("sgd", 200), "drawn_at"] == 10000
    assert gen.loc[("sgd", 202), "time"] == 7000
    figure = generic.all_runs_time_to_threshold(curves, {})
    panels = np.array(figure.axes[:4]).reshape(2, 2)  # a row per arm, a column per event
    assert [row[0].get_ylabel() for row in panels] == ["optimizer=adamw\nseed", "optimizer=sgd\nseed"]
    assert [axis.get_title() for axis in panels[0]] == [T_FIT, T_GEN]

    def seeds_drawn(axis):  # filled points, by seed row
        filled = [c for c in axis.collections if len(c.get_facecolors())]
        return sorted(tuple(p) for c in filled for p in c.get_offsets())

    def median_line(axis):  # the solid vertical line; the dotted one is the budget
        return [line.get_xdata()[0] for line in axis.get_lines() if line.get_linestyle() == "-"]

    adamw_gen, sgd_gen = panels[0][1], panels[1][1]
    assert seeds_drawn(adamw_gen) == [(800, 0), (900, 1), (1200, 2)] and median_line(adamw_gen) == [900]
    assert len(open_triangles(adamw_gen)) == 0
    # sgd: one seed reached 7000; its median is that one seed, the two censored seeds are triangles at the budget
    assert seeds_drawn(sgd_gen) == [(7000, 2)] and median_line(sgd_gen) == [7000]
    assert sorted(map(tuple, open_triangles(sgd_gen))) == [(10000, 0), (10000, 1)]
    text = description(figure)
    assert ("t_gen (test acc >= 0.95): optimizer=adamw median 900 (3 of 3 seeds reached it); "
            "optimizer=sgd median 7000 (1 of 3 seeds reached it).") in text
    plt.close(figure)


def test_an_arm_where_no_seed_generalised_has_no_median_line():
    curves = synthetic_curves([[100, 120, 150], [400, 500, 600]], [[800, 900, 1200], [np.inf] * 3],
                              [0.5, 0.5], [1, 2, 3])
    figure = generic.all_runs_time_to_threshold(
        with_axes(curves, {"optimizer.kind": ["adamw", "sgd"]}, kind=["adamw"] * 3 + ["sgd"] * 3), {})
    sgd_gen = figure.axes[3]
    assert [line.get_linestyle() for line in sgd_gen.get_lines()] == [":"]  # the budget only
    assert len(open_triangles(sgd_gen)) == 3
    assert "kind=sgd not reached by the budget (0 of 3 seeds reached it)" in description(figure)
    plt.close(figure)


def test_a_figure_description_travels_in_its_png(tmp_path):
    figure = generic.all_runs_time_to_threshold(optimiser_comparison(), {})
    save(figure, tmp_path / "times.png")
    assert read_description(tmp_path / "times.png") == description(figure) != ""
    figure, _ = plt.subplots()
    save(figure, tmp_path / "plain.png")
    assert read_description(tmp_path / "plain.png") == ""


# A researcher's optimiser comparison: the only sweep axis is the optimiser, so there is no numeric axis to draw
# times against. At smoke scale AdamW generalises on some seeds within 600 steps, gradient descent on none.
OPTIMISER_COMPARISON = """\
claim: optimiser_comparison
paper: "A lab notebook: AdamW against plain gradient descent"
statement: >-
  On x+y mod 23 an embedding-MLP trained with AdamW and weight decay generalises within the budget; plain
  full-batch gradient descent does not.
task: {kind: modular, operation: x+y, prime: 23, train_fraction: 0.8, split_seed: run}
model: {kind: mlp, embed_dim: 32, hidden: 128}
optimizer: {kind: adamw, lr: 1.0e-2, weight_decay: 1.0, warmup_steps: 10}
train: {steps: 3000, log_every: 10, log_points: 60, checkpoint_every: 1000}
sweep:
  optimizer:
    - {name: adamw}
    - {name: sgd, kind: sgd, lr: 0.3}
seeds: {development: [0, 1], verdict: [10, 11, 12]}
checks:
  - name: A1
    kind: speedup_to_generalise
    statement: >-
      The median over seeds of the step at which test accuracy first reaches 0.95 is at least 2x earlier with
      AdamW than with plain gradient descent (censored runs ranked later than the budget).
    params: {axis: optimizer, treated: adamw, baseline: sgd, gen_acc: 0.95, min_speedup: 2.0, min_seeds: 2}
scales:
  smoke:
    differs_from_paper: ["a pipeline test: 600 steps"]
    train: {steps: 600, log_every: 10, log_points: 0, checkpoint_every: 600}
  default: {}
  paper: {}
"""


def t_gen_per_arm(curves) -> dict[str, str]:
    """Each optimiser arm's t_gen summary computed here from curves.nc, apart from the figure's own code."""
    times = first_step_reaching(curves["test_acc"].values, curves["step"].values, 0.95)
    summaries = {}
    for arm in ("adamw", "sgd"):
        arm_times = times[curves["optimizer"].values == arm]
        reached = arm_times[np.isfinite(arm_times)]
        of = f"{len(reached)} of {len(arm_times)} seeds reached it"
        summaries[arm] = (f"optimizer={arm} median {np.median(reached):.0f} ({of})" if len(reached)
                          else f"optimizer={arm} not reached by the budget ({of})")
    return summaries


@pytest.mark.workflow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (`apt-get install chromium`)")
def test_an_optimiser_comparison_shows_t_gen_per_arm_in_the_report(tmp_path, browser):
    directory = copy_workflow(tmp_path / "workflow")
    for shipped in (directory / "specs").glob("*.yaml"):
        shipped.unlink()  # only the comparison trains; the papers' claims are listed as not implemented
    (directory / "specs" / "optimiser_comparison.yaml").write_text(OPTIMISER_COMPARISON)
    done = subprocess.run(["snakemake", "-c2", "paper-smoke/all", "--config", "scale=smoke"], cwd=directory,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (curves_path,) = directory.glob("results/*/optimiser_comparison/curves.nc")
    expected = t_gen_per_arm(read_complete(curves_path))
    assert expected["sgd"].endswith("(0 of 3 seeds reached it)")  # the censored arm this test is about
    (report,) = directory.glob("paper*/report.html")  # paper/ or a scale's own tree

    page, errors = open_report(browser, report, 1280)
    assert errors == []
    figure = page.locator("section#optimiser_comparison figure",
                          has=page.locator('img[alt*="all runs time to threshold"]'))
    assert figure.count() == 1
    image = figure.locator("img")
    assert image.evaluate("i => i.complete && i.naturalWidth > 600 && i.naturalHeight > 300")
    alt, caption = image.get_attribute("alt"), figure.locator("figcaption").inner_text()
    for text in (alt, caption):
        assert "per arm of optimizer" in text
        gen = text.split("t_gen (test acc >= 0.95): ", 1)[1].split(". ", 1)[0]
        assert gen == f"{expected['adamw']}; {expected['sgd']}"
    assert figure.bounding_box()["width"] > 600
    figure.screenshot(path=str(tmp_path / "time_to_threshold_in_report.png"))
