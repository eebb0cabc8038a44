"""Mohamadi et al.'s quadratic network, its closed-form eNTK, normalised GD with an l-infinity penalty, the
triples task, and checks K1-K3 on synthetic curves, each passing and failing."""

import numpy as np
import pytest
import torch
import xarray as xr

from grokrepro.claims.kernel_vs_rich import (
    DriftParams, InitGapParams, RichBeatsKernelParams, ntk_moves_after_fit, rich_beats_kernel,
    smaller_init_shrinks_gap)
from grokrepro.models.quadratic import QuadraticNet
from grokrepro.spec.schema import Check
from grokrepro.train.probes import empirical_ntk

from helpers import REGRESSION_CHECKS, resolved, tiny_spec


def tiny_net(p=5, width=3, seed=0):
    torch.manual_seed(seed)
    return QuadraticNet(p, width).double()


def all_inputs(p, triples):
    a, b = (g.ravel() for g in torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij"))
    pairs = torch.stack([a, b], 1)
    if not triples:
        return pairs
    return torch.cat([pairs.repeat_interleave(p, 0), torch.arange(p).repeat(len(pairs))[:, None]], 1)


@pytest.mark.parametrize("triples", [False, True])
def test_closed_form_entk_matches_torch_func(triples):
    net = tiny_net()
    x = all_inputs(5, triples)[torch.randperm(125 if triples else 25, generator=torch.Generator().manual_seed(1))[:20]]
    y = x[:7]
    reference = empirical_ntk(net, x) if triples else empirical_ntk(_first_output(net), x)
    torch.testing.assert_close(net.ntk(x), reference)
    cross = empirical_ntk(net, y, x) if triples else empirical_ntk(_first_output(net), y, x)
    torch.testing.assert_close(net.ntk(y, x), cross)


class _first_output(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)[..., 0]


def test_entk_matches_finite_differences():
    """K(x, x') = Σ_θ ∂f(x)/∂θ ∂f(x')/∂θ with the derivatives taken by central differences."""
    net = tiny_net(p=3, width=2)
    x = all_inputs(3, triples=True)
    step, columns = 1e-6, []
    for parameter in net.parameters():
        flat = parameter.data.view(-1)
        for i in range(flat.numel()):
            saved = flat[i].item()
            flat[i] = saved + step
            with torch.no_grad():
                up = net(x)
            flat[i] = saved - step
            with torch.no_grad():
                down = net(x)
            flat[i] = saved
            columns.append((up - down) / (2 * step))
    jacobian = torch.stack(columns, 1)
    torch.testing.assert_close(net.ntk(x), jacobian @ jacobian.T, rtol=1e-6, atol=1e-8)


def test_triples_task_and_size_rule():
    from grokrepro.tasks import make_dataset

    spec = resolved(tiny_spec(task={"kind": "modular", "operation": "x+y", "prime": 7, "target": "triples",
                                    "train_size_exponent": 2.25, "train_size_coefficient": 2.0},
                              model={"kind": "quadratic", "width_per_symbol": 4}, checks=REGRESSION_CHECKS))
    data = make_dataset(spec.task, 0)
    assert data.inputs.shape == (343, 3) and data.is_regression and data.n_symbols == 7
    assert len(data.train_index) == round(2 * 7**2.25)
    a, b, c = data.inputs.T
    np.testing.assert_array_equal(data.labels, 7 * ((a + b) % 7 == c).astype(np.float32))  # p·1[a+b=c]


def test_spec_refuses_two_widths_and_two_sizes():
    from grokrepro.spec import SpecError

    with pytest.raises(SpecError, match="exactly one of width"):
        resolved(tiny_spec(model={"kind": "quadratic", "width": 4, "width_per_symbol": 2}))
    with pytest.raises(SpecError, match="exactly one of train_fraction"):
        resolved(tiny_spec(task={"kind": "modular", "operation": "x+y", "prime": 7, "train_size": 10,
                                 "train_size_exponent": 1.5}))


def _trainer(optimizer, steps=5, p=11, **train):
    from grokrepro.spec import expand_runs
    from grokrepro.tasks import make_dataset
    from grokrepro.train import EnsembleTrainer

    raw = tiny_spec(task={"kind": "modular", "operation": "x+y", "prime": p, "train_size_exponent": 5 / 3,
                          "train_size_coefficient": 2.0},
                    model={"kind": "quadratic", "width_per_symbol": 2}, optimizer=optimizer,
                    train={"steps": steps, "log_every": 1, "log_points": 0, **train},
                    sweep={"model.init_scale": [1.0, 0.5]},
                    checks=[{"name": "K", "kind": "smaller_init_shrinks_gap", "statement": "s"}])
    runs = expand_runs(resolved(raw))
    return EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs])


def test_normalised_gd_steps_have_length_lr():
    trainer = _trainer({"kind": "normalized_gd", "lr": 0.3})
    before = {k: v.clone() for k, v in trainer.params.items()}
    active = torch.ones(len(trainer.runs), dtype=torch.bool)
    grads, _ = trainer._gradients(trainer.train_x, trainer.train_y, active)
    trainer._update(grads, 0, active)
    moved = torch.sqrt(sum((trainer.params[k] - before[k]).pow(2).flatten(1).sum(1) for k in before))
    torch.testing.assert_close(moved, torch.full_like(moved, 0.3))


def test_normalised_gd_keeps_moving_when_the_cross_entropy_underflows():
    """Margins of thousands: the loss is 0 in float64 and its gradient underflows, yet steps stay finite and of
    length lr (the l-infinity penalty takes over)."""
    trainer = _trainer({"kind": "normalized_gd", "lr": 0.1, "linf_penalty": 1e-20, "loss_dtype": "float64"})
    with torch.no_grad():  # a network that classifies every training pair with an enormous margin
        for run in range(len(trainer.runs)):
            trainer.params["weight"][run].mul_(30.0)
    result = trainer.run(progress=False)
    assert (result.diverged_at < 0).all()
    assert np.isfinite(result.metrics["param_norm"]).all()
    assert np.ptp(result.metrics["param_norm"], axis=1).min() > 0


def test_linf_penalty_pulls_only_the_largest_entry():
    trainer = _trainer({"kind": "sgd", "lr": 1.0, "linf_penalty": 0.5})
    from grokrepro.train.optim import LinfPenalty, StepContext

    zero = {k: torch.zeros_like(v) for k, v in trainer.params.items()}
    (penalty,) = [t for t in trainer.optimiser.chain if isinstance(t, LinfPenalty)]
    with_penalty, _ = penalty.update(zero, {}, trainer.params, StepContext(step=0, lr=trainer.lr))
    for run in range(len(trainer.runs)):
        entries = torch.cat([g[run].flatten() for g in with_penalty.values()])
        params = torch.cat([p[run].flatten() for p in trainer.params.values()])
        assert (entries != 0).sum() == 1
        assert entries[params.abs().argmax()] == pytest.approx(0.5 * float(params[params.abs().argmax()].sign()))


def test_probes_measure_drift_and_kernel_regression():
    trainer = _trainer({"kind": "normalized_gd", "lr": 1.0}, steps=6, p=11,
                       probes=[{"kind": "kernel_regression", "every": 6},
                               {"kind": "ntk_drift", "every": 2, "points": 20, "split": "train"}])
    result = trainer.run(progress=False)
    drift = result.metrics["ntk_drift"]
    assert (drift[:, 0] == 0).all() and (drift[:, 2] > 0).all() and np.isnan(drift[:, 1]).all()
    assert (drift[:, 2::2] <= np.sqrt(2) + 1e-9).all()  # two PSD kernels of unit norm are at most √2 apart
    reference = result.metrics["ntk_drift_ref"]  # an independent init's kernel, the same at every measured step
    assert ((reference[:, 0] > 0) & (reference[:, 0] <= np.sqrt(2))).all()
    np.testing.assert_array_equal(reference[:, 2], reference[:, 0])
    assert np.isfinite(result.metrics["kernel_test_loss"][:, 0]).all()
    assert ((result.metrics["kernel_test_acc"][:, 0] >= 0) & (result.metrics["kernel_test_acc"][:, 0] <= 1)).all()


# -- checks on synthetic curves ----------------------------------------------------------------------------
STEPS = np.arange(0, 2001, 20)


def curves(rows):
    """rows: dicts with prime, init_scale, seed, t_fit, t_gen (inf: never), final_acc, kernel_acc, kernel_loss,
    drift(step array) -> array."""
    n = len(rows)
    table = {name: np.full((n, len(STEPS)), np.nan) for name in
             ("train_acc", "test_acc", "train_loss", "test_loss", "kernel_test_loss", "kernel_test_acc", "ntk_drift",
              "ntk_drift_raw", "ntk_drift_ref")}
    for k, row in enumerate(rows):
        table["train_acc"][k] = np.where(STEPS >= row["t_fit"], 1.0, 0.05)
        table["test_acc"][k] = np.where(STEPS >= row["t_gen"], row.get("final_acc", 1.0), 0.02)
        table["kernel_test_loss"][k, 0] = row.get("kernel_loss", 0.1)
        table["kernel_test_acc"][k, 0] = row.get("kernel_acc", 0.02)
        table["ntk_drift"][k] = row["drift"](STEPS)
        table["ntk_drift_raw"][k] = 3 * row["drift"](STEPS)
        table["ntk_drift_ref"][k] = np.where(np.isfinite(table["ntk_drift"][k]), row.get("reference", 0.2), np.nan)
    data = {name: (("run", "step"), values) for name, values in table.items()}
    data["diverged_at"] = ("run", np.full(n, -1))
    coords = {"run": [f"r{k}" for k in range(n)], "step": STEPS}
    for name in ("prime", "init_scale", "seed"):
        coords[name] = ("run", np.array([row[name] for row in rows]))
    return xr.Dataset(data, coords)


def kink(t, start=0.05, end=0.4):  # flat at `start` until t, then rising to `end` by t + 200
    return lambda steps: start + np.clip((steps - t) / 200, 0, 1) * (end - start)


def grid(primes=(23, 31, 47), inits=(1.0,), seeds=(100, 101, 102), **row):
    return [{"prime": p, "init_scale": s, "seed": seed, "t_fit": 100, "t_gen": 600, "drift": kink(100), **row}
            for p in primes for s in inits for seed in seeds]


def check(kind, where):
    return Check(name="K", kind=kind, statement="s", where=where)


def test_k1_passes_when_the_rich_network_generalises_on_every_prime():
    result = rich_beats_kernel(curves(grid()), check("rich_beats_kernel", {"init_scale": 1.0}), RichBeatsKernelParams())
    assert result.passed and result.value == 1.0 and "kernel: acc 0.020" in result.detail


def test_k1_on_classification_needs_the_kernels_l2_loss_at_least_half_the_zero_predictors():
    """Theorem 4.3's own quantity: with one-hot targets the zero predictor's l2 loss is 1/p; a kernel below half
    of it fails K1 even though the rich network generalises."""
    spec_check, params = check("rich_beats_kernel", {"init_scale": 1.0}), RichBeatsKernelParams()
    poor_kernel = [{**row, "kernel_loss": 0.6 / row["prime"]} for row in grid()]
    assert rich_beats_kernel(curves(poor_kernel), spec_check, params).passed
    good_kernel = [{**row, "kernel_loss": 0.4 / row["prime"]} for row in grid()]
    result = rich_beats_kernel(curves(good_kernel), spec_check, params)
    assert not result.passed and result.value == 0.0 and "l2 loss 0.40x the zero predictor's" in result.detail


def test_k1_fails_when_one_prime_does_not_generalise():
    rows = grid(primes=(23, 31)) + grid(primes=(47,), final_acc=0.8)
    result = rich_beats_kernel(curves(rows), check("rich_beats_kernel", {"init_scale": 1.0}), RichBeatsKernelParams())
    assert not result.passed and result.status == "fail" and result.value == 0.0


def test_k1_is_inconclusive_with_too_few_primes():
    result = rich_beats_kernel(curves(grid(primes=(23, 31))), check("rich_beats_kernel", {}), RichBeatsKernelParams())
    assert result.status == "inconclusive"


def k2(rows, where=None):
    return ntk_moves_after_fit(curves(rows), check("ntk_moves_after_fit", where or {}), DriftParams())


def test_k2_passes_when_the_kernel_is_within_d_ref_at_the_fit_and_moves_mostly_after():
    result = k2(grid(), {"init_scale": 1.0})  # 0.05 at t_fit (D_ref 0.2), 0.4 by t_gen
    assert result.passed and result.value == 1.0
    assert result.detail.startswith("the kernel stays within D_ref until the fit")


def test_k2_fails_when_the_kernel_has_left_its_init_before_the_fit():
    """The paper's own setup, measured: the drift at t_fit is 2.4-3.8x the distance between two inits."""
    result = k2(grid(drift=kink(-100, start=0.0, end=0.6)))  # already 0.6 by t_fit = 100, D_ref 0.2
    assert not result.passed and result.status == "fail" and result.value == 0.0
    assert result.detail.startswith("the kernel has left its init before the fit on 9 of 9 runs (drift at t_fit "
                                    "3.00-3.00x")


def test_k2_fails_when_the_kernel_moves_less_after_the_fit_than_before():
    result = k2(grid(drift=kink(100, start=0.15, end=0.25)))  # within D_ref at the fit, but only 1.7x by t_gen
    assert not result.passed and "moves less after the fit" in result.detail


def test_k2_counts_only_the_drift_up_to_t_gen():
    late = grid(drift=kink(1000, start=0.05, end=0.4))  # the kernel moves only after generalising (t_gen 600)
    assert not k2(late).passed


def test_k2_fails_on_a_lazy_forever_control_and_on_an_immediately_rich_one():
    """Its two controls: a run that stays lazy (still kernel at the fit, and its kernel even moves later) but never
    generalises fails on (c); an immediately rich run, far from its init by the fit, fails on (a)."""
    lazy = k2(grid(t_gen=np.inf, t_fit=200, drift=kink(200, start=0.02, end=0.3)))
    assert not lazy.passed and "never generalise within the budget" in lazy.detail
    rich = k2(grid(drift=kink(0, start=0.0, end=0.5), reference=0.2))
    assert not rich.passed and rich.detail.startswith("the kernel has left its init before the fit")


def test_k2_controls_are_judged_in_the_verdict(tmp_path):
    """Through evaluate: K2 passes on its runs; a control that passes too makes it not_discriminating."""
    from grokrepro.claims.evaluate import evaluate
    from grokrepro.metrics.curves import write_atomic
    from grokrepro.spec import load_spec
    from helpers import write_spec

    rows = grid(primes=(23,), inits=(1.0,)) + grid(primes=(23,), inits=(30.0,), t_gen=np.inf) + \
        grid(primes=(23,), inits=(0.1,), drift=kink(0, start=0.0, end=0.5))
    data = curves(rows)
    data["test_loss"] = data["train_loss"] = xr.zeros_like(data["ntk_drift"])
    data["stopped_at"] = ("run", np.full(data.sizes["run"], -1))
    data = data.assign_coords(budget_steps=("run", np.full(data.sizes["run"], STEPS[-1])))
    write_atomic(data, tmp_path / "curves.nc")

    def verdict(control_scale):
        controls = [{"where": {"init_scale": control_scale}, "why": "lazy forever"},
                    {"where": {"init_scale": 0.1}, "why": "immediately rich"}]
        raw = tiny_spec(task={"kind": "modular", "operation": "x+y", "prime": 23, "train_size_exponent": 5 / 3,
                              "train_size_coefficient": 2.0},
                        model={"kind": "quadratic", "width_per_symbol": 2},
                        sweep={"task.prime": [23], "model.init_scale": [0.1, 1.0, 30.0]},
                        seeds={"development": [0], "verdict": [100, 101, 102]},
                        checks=[{"name": "K2", "kind": "ntk_moves_after_fit", "statement": "s",
                                 "where": {"init_scale": 1.0}, "control": controls}])
        spec = load_spec(write_spec(tmp_path, raw), "default")
        return evaluate(spec, "sha", tmp_path / "curves.nc")["checks"][0]

    judged = verdict(30.0)
    assert judged["status"] == "pass" and [c["passed"] for c in judged["control"]] == [False, False]
    # a "control" that is in fact another run like the check's own (init 1.0 again): K2 cannot tell them apart
    assert verdict(1.0)["status"] == "not_discriminating"


def test_k2_is_inconclusive_without_d_ref():
    data = curves(grid()).drop_vars("ntk_drift_ref")
    result = ntk_moves_after_fit(data, check("ntk_moves_after_fit", {}), DriftParams())
    assert result.status == "inconclusive" and "D_ref" in result.detail


def test_quadratic_net_draws_pytorchs_default_init_times_init_scale():
    """The paper's init: what bias-free nn.Linear(2p, h) and nn.Linear(h, p) draw, W ~ U(±1/√(2p)),
    V ~ U(±1/√h); init_scale multiplies it."""
    from grokrepro.models import ModelShape, build_model
    from grokrepro.models.kinds.quadratic import Quadratic

    p, width = 7, 28
    torch.manual_seed(3)
    net = QuadraticNet(p, width)
    torch.manual_seed(3)
    first, second = torch.nn.Linear(2 * p, width, bias=False), torch.nn.Linear(width, p, bias=False)
    torch.testing.assert_close(net.weight.data, first.weight.data)
    torch.testing.assert_close(net.readout.data, second.weight.data)
    assert net.weight.abs().max() <= 1 / np.sqrt(2 * p) and net.readout.abs().max() <= 1 / np.sqrt(width)
    torch.manual_seed(3)
    scaled = build_model(Quadratic(kind="quadratic", width=width, init_scale=0.5), ModelShape(n_symbols=p))
    torch.testing.assert_close(scaled.weight.data, 0.5 * first.weight.data)
    assert Quadratic(kind="quadratic", width=4).init == "pytorch"
    torch.manual_seed(3)
    legacy = QuadraticNet(p, width, init="normal")  # the suite's earlier W ~ N(0, 1)
    assert legacy.weight.std() > 0.5


def gaps(gap_by_scale, seeds=(100, 101, 102)):
    return [{"prime": 47, "init_scale": s, "seed": seed, "t_fit": 100, "t_gen": 100 + gap, "drift": kink(100)}
            for s, gap in gap_by_scale.items() for seed in seeds]


def test_k3_passes_when_a_smaller_init_shrinks_the_gap():
    rows = gaps({1.0: 1000, 0.3: 400, 0.1: 100})
    result = smaller_init_shrinks_gap(curves(rows), check("smaller_init_shrinks_gap", {"prime": 47}), InitGapParams())
    assert result.passed and result.value == pytest.approx(0.1)
    assert result.detail.startswith("the median gap t_gen - t_fit falls from 1000 to 100 steps as init_scale "
                                    "shrinks 1 -> 0.1, a ratio of 0.10 against <= 0.5; ")


def test_k3_passes_when_only_the_large_init_never_generalises():
    rows = gaps({1.0: np.inf, 0.3: 400, 0.1: 100})
    result = smaller_init_shrinks_gap(curves(rows), check("smaller_init_shrinks_gap", {}), InitGapParams())
    assert result.passed


@pytest.mark.parametrize("gap_by_scale", [{1.0: 400, 0.3: 400, 0.1: 380}, {1.0: 1000, 0.3: 100, 0.1: 300},
                                          {1.0: np.inf, 0.3: np.inf, 0.1: np.inf}])
def test_k3_fails_when_the_gap_does_not_shrink(gap_by_scale):
    result = smaller_init_shrinks_gap(curves(gaps(gap_by_scale)), check("smaller_init_shrinks_gap", {}),
                                      InitGapParams())
    assert not result.passed and result.status == "fail"
    assert result.detail.split("; ")[0] in (
        "the median gap t_gen - t_fit rises somewhere as init_scale shrinks",
        "the smallest init_scale, 0.1, has a median run that never generalises",
        "the median gap t_gen - t_fit falls from 400 to 380 steps as init_scale shrinks 1 -> 0.1, a ratio of 0.95 "
        "against <= 0.5")


def regression_curves(rich_ratio, kernel_ratio, primes=(23, 31, 47), seeds=(100, 101, 102)):
    """The triples task: losses relative to the zero predictor's (0.04 here); fit at 100, test loss falls to
    rich_ratio of the zero predictor's at 600."""
    rows = [{"prime": p, "seed": s} for p in primes for s in seeds]
    n, zero = len(rows), 0.04
    train = np.where(STEPS >= 100, 0.001 * zero, zero)
    test = np.where(STEPS >= 600, rich_ratio * zero, 1.5 * zero)
    kernel = np.full(len(STEPS), np.nan)
    kernel[0] = kernel_ratio * zero
    data = {"train_loss": (("run", "step"), np.tile(train, (n, 1))),
            "test_loss": (("run", "step"), np.tile(test, (n, 1))),
            "zero_train_loss": (("run", "step"), np.full((n, len(STEPS)), zero)),
            "zero_test_loss": (("run", "step"), np.full((n, len(STEPS)), zero)),
            "kernel_test_loss": (("run", "step"), np.tile(kernel, (n, 1))),
            "diverged_at": ("run", np.full(n, -1))}
    coords = {"run": [f"r{k}" for k in range(n)], "step": STEPS, "init_scale": ("run", np.ones(n)),
              **{name: ("run", np.array([row[name] for row in rows])) for name in ("prime", "seed")}}
    return xr.Dataset(data, coords)


def test_k1_on_the_regression_task_reads_losses_relative_to_the_zero_predictor():
    spec_check = check("rich_beats_kernel", {})
    assert rich_beats_kernel(regression_curves(0.1, 0.9), spec_check, RichBeatsKernelParams()).passed
    rich_too_poor = rich_beats_kernel(regression_curves(0.4, 0.9), spec_check, RichBeatsKernelParams())
    kernel_too_good = rich_beats_kernel(regression_curves(0.1, 0.3), spec_check, RichBeatsKernelParams())
    assert not rich_too_poor.passed and not kernel_too_good.passed


def test_regression_times_use_the_zero_predictor():
    from grokrepro.claims.kernel_vs_rich import TimeParams, event_times

    t_fit, t_gen = event_times(regression_curves(0.1, 0.9), TimeParams())
    assert (t_fit == 100).all() and (t_gen == 600).all()
    _, never = event_times(regression_curves(0.4, 0.9), TimeParams())
    assert np.isinf(never).all()


def test_figures_draw_from_synthetic_curves(tmp_path):
    from grokrepro.figures.common import save
    from grokrepro.figures.kernel_vs_rich import DRAW, FIGURES

    rows = grid(kernel_acc=0.03) + [{**row, "prime": 47} for row in gaps({0.3: 400, 0.1: np.inf})]
    synthetic = curves(rows)
    for name in FIGURES:
        save(DRAW[name](synthetic, {}), tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_drift_figure_draws_k2s_runs_and_each_control_from_the_spec(tmp_path):
    import json

    from grokrepro.figures.common import save
    from grokrepro.figures.kernel_vs_rich import DRAW

    rows = grid(primes=(23, 47)) + grid(primes=(23,), inits=(30.0,), t_gen=np.inf) + \
        grid(primes=(47,), inits=(0.1,), drift=kink(-100, start=0.0, end=0.6))
    synthetic = curves(rows)
    synthetic = synthetic.assign_coords(lr=("run", np.where(synthetic["init_scale"].values == 30.0, 1.0, 10.0)))
    k2_check = {"name": "K2", "kind": "ntk_moves_after_fit", "where": {"init_scale": 1.0, "lr": 10.0}, "params": {},
                "control": [{"where": {"init_scale": 30.0, "lr": 1.0, "prime": 23}, "why": "Lazy forever (x): y"},
                            {"where": {"init_scale": 0.1, "prime": 47}, "why": "Immediately rich: z"}]}
    synthetic.attrs["spec_json"] = json.dumps({"checks": [k2_check]})
    figure = DRAW["ntk_drift"](synthetic, {})
    assert [axis.get_title().split("\n")[0] for axis in figure.axes] == \
        ["K2's runs", "control: Lazy forever", "control: Immediately rich"]
    save(figure, tmp_path / "ntk_drift.png")
