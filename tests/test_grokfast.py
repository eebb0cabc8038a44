"""Grokfast (Lee et al. 2024): the EMA and MA filters against a plain transcription of the authors' formulas,
λ = 0 as the unfiltered optimiser to the bit, exact resume, and the speedup check on synthetic curves."""

from collections import deque

import numpy as np
import pytest
import torch
import xarray as xr

from grokrepro.claims.grokfast import SpeedupParams, speedup_to_generalise
from grokrepro.claims.verdict import with_controls
from grokrepro.spec import expand_runs
from grokrepro.spec.schema import Check
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer
from grokrepro.train.optim import StepContext, transform_class
from helpers import interrupted_and_resumed, resolved, synthetic_curves, tiny_spec


# -- the authors' formulas, one run at a time (ironjr/grokfast, grokfast.py) ----------------------------------
def reference_ema(gradients, alpha, lamb):
    grads, out = None, []
    for g in gradients:
        if grads is None:
            grads = {n: t for n, t in g.items()}
        for n in g:
            grads[n] = grads[n] * alpha + g[n] * (1 - alpha)
        out.append({n: g[n] + grads[n] * lamb for n in g})
    return out


def reference_ma(gradients, window, lamb, filter_type="mean", warmup=True):
    grads, out = None, []
    for g in gradients:
        if grads is None:
            grads = {n: deque(maxlen=window) for n in g}
        step = {}
        for n in g:
            grads[n].append(g[n])
            step[n] = g[n]
            if not warmup or len(grads[n]) == window:
                avg = sum(grads[n]) / len(grads[n]) if filter_type == "mean" else sum(grads[n])
                step[n] = g[n] + avg * lamb
        out.append(step)
    return out


SHAPES = {"w": (3, 4), "b": (4,)}


def _gradients(n_steps, n_runs, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [{k: torch.randn((n_runs, *s), generator=generator) for k, s in SHAPES.items()} for _ in range(n_steps)]


def _filtered(kind, settings, gradients):
    cls = transform_class(kind)
    transformation = cls([cls.Settings(kind=kind, **s) for s in settings], torch.device("cpu"))
    params = {k: torch.zeros_like(v) for k, v in gradients[0].items()}
    state, out = transformation.init(params), []
    for step, g in enumerate(gradients):
        before = {k: v.clone() for k, v in g.items()}
        new, state = transformation.update(g, state, params, StepContext(step=step, lr=torch.ones(len(settings))))
        assert all(torch.equal(g[k], before[k]) for k in g)  # inputs untouched
        out.append(new)
    return out


def _run(out, k):
    return [{n: t[k] for n, t in step.items()} for step in out]


def test_ema_is_the_authors_filter_bit_for_bit_with_per_run_settings():
    settings = [{"alpha": 0.98, "lamb": 2.0}, {"alpha": 0.8, "lamb": 0.1}, {"alpha": 0.98, "lamb": 0.0}]
    gradients = _gradients(12, len(settings))
    out = _filtered("grokfast_ema", settings, gradients)
    for k, s in enumerate(settings):
        for ours, theirs in zip(_run(out, k), reference_ema(_run(gradients, k), s["alpha"], s["lamb"])):
            for n in SHAPES:
                assert torch.equal(ours[n], theirs[n]), (k, n)


@pytest.mark.parametrize("filter_type, warmup", [("mean", True), ("mean", False), ("sum", True)])
def test_ma_is_the_authors_filter_bit_for_bit(filter_type, warmup):
    settings = [{"window": 4, "lamb": 5.0, "filter_type": filter_type, "warmup": warmup},
                {"window": 4, "lamb": 1.0, "filter_type": filter_type, "warmup": warmup}]
    gradients = _gradients(9, len(settings), seed=1)
    out = _filtered("grokfast_ma", settings, gradients)
    for k, s in enumerate(settings):
        theirs = reference_ma(_run(gradients, k), 4, s["lamb"], filter_type, warmup)
        for step, (ours, ref) in enumerate(zip(_run(out, k), theirs)):
            for n in SHAPES:
                assert torch.equal(ours[n], ref[n]), (k, step, n)
    if warmup:  # unchanged until the queue is full
        assert all(torch.equal(out[s][n], gradients[s][n]) for s in range(3) for n in SHAPES)


def test_ma_settings_that_change_shapes_split_groups():
    cls = transform_class("grokfast_ma")
    with pytest.raises(ValueError, match="not per-run"):
        cls([cls.Settings(window=4), cls.Settings(window=5)], torch.device("cpu"))


# -- in the trainer -------------------------------------------------------------------------------------------
def _runs(transforms, **changes):
    optimizer = {"lr": 1e-2, "weight_decay": 0.5, "warmup_steps": 3, "transforms": transforms}
    return expand_runs(resolved(tiny_spec(optimizer=optimizer, sweep={"optimizer.weight_decay": [0.5]},
                                          seeds={"development": [0], "verdict": [1, 2]},
                                          checks=[{"name": "G1", "kind": "delayed_generalisation", "statement": "s",
                                                   "where": {"weight_decay": 0.5}}], **changes)))


def _trained(runs):
    trainer = EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs])
    return trainer, trainer.run(progress=False)


@pytest.mark.parametrize("transforms", [[{"kind": "grokfast_ema", "lamb": 0.0}],
                                        [{"kind": "grokfast_ma", "window": 4, "lamb": 0.0}]])
def test_lamb_zero_is_the_unfiltered_optimiser_bit_for_bit(transforms):
    plain, _ = _trained(_runs([]))
    filtered, _ = _trained(_runs(transforms))
    for name in plain.params:
        assert torch.equal(plain.params[name], filtered.params[name]), name


def test_the_filter_changes_training():
    plain, _ = _trained(_runs([]))
    filtered, _ = _trained(_runs([{"kind": "grokfast_ema", "lamb": 2.0}]))
    assert not all(torch.equal(plain.params[n], filtered.params[n]) for n in plain.params)


@pytest.mark.parametrize("transforms", [[{"kind": "grokfast_ema", "alpha": 0.9, "lamb": 2.0}],
                                        [{"kind": "grokfast_ma", "window": 7, "lamb": 5.0}]])
def test_resume_mid_run_is_bit_exact(tmp_path, monkeypatch, transforms):
    """Killed after the checkpoint at step 20 (the MA queue of 7 holds a window across it) and resumed."""
    train = {"steps": 30, "log_every": 5, "log_points": 5, "checkpoint_every": 10}
    runs = _runs(transforms, train=train)
    uninterrupted, resumed, _, saves = interrupted_and_resumed(runs, tmp_path / "group.pt", monkeypatch)
    assert saves == [10, 20]
    for name in uninterrupted.metrics:
        np.testing.assert_array_equal(resumed.metrics[name], uninterrupted.metrics[name])


def test_arms_differing_in_lamb_and_lr_share_one_group():
    arms = [{"name": "plain", "transforms": [{"kind": "grokfast_ema", "lamb": 0.0}]},
            {"name": "ema", "transforms": [{"kind": "grokfast_ema", "lamb": 2.0}]},
            {"name": "lr_gain", "lr": 3e-2, "transforms": [{"kind": "grokfast_ema", "lamb": 0.0}]}]
    runs = expand_runs(resolved(tiny_spec(optimizer={"lr": 1e-2, "weight_decay": 0.5}, sweep={"optimizer": arms},
                                          checks=[{"name": "F1", "kind": "speedup_to_generalise",
                                                   "statement": "s"}])))
    assert len({r.group_key for r in runs}) == 1
    assert sorted({r.coords["optimizer"] for r in runs}) == ["ema", "lr_gain", "plain"]


# -- the check ------------------------------------------------------------------------------------------------
SEEDS = [1, 2, 3]
NEVER = np.inf
F1 = Check(name="F1", kind="speedup_to_generalise", statement="s", where={})


def arms(t_gen: dict[str, list[float]], budget=10000) -> xr.Dataset:
    """Curves per arm: test acc jumps to 1 at each seed's t_gen (inf: never within the budget)."""
    names = list(t_gen)
    curves = synthetic_curves([100] * len(names), [t_gen[n] for n in names], list(range(len(names))), SEEDS,
                              steps=np.arange(0, budget + 1, 10))
    return curves.assign_coords(optimizer=("run", np.repeat(names, len(SEEDS))))


def f1(curves, **params):
    return speedup_to_generalise(curves, F1, SpeedupParams(**params))


def test_f1_passes_on_a_fivefold_speedup():
    result = f1(arms({"plain": [3000, 3500, 4000], "ema": [500, 600, 800]}))
    assert result.passed and result.status == "pass"
    assert np.isclose(result.value, 3500 / 600) and result.seed_fraction == 1.0
    assert result.detail.startswith("ema reaches test acc 0.95 5.83x sooner than plain (exact, median t_gen 600")
    assert result.interval[0] >= 3000 / 800 and result.interval[1] <= 4000 / 500


def test_f1_fails_on_a_smaller_speedup():
    result = f1(arms({"plain": [3000, 3500, 4000], "ema": [1000, 1200, 1300]}))
    assert not result.passed and result.status == "fail" and np.isclose(result.value, 3500 / 1200)


def test_f1_fails_when_the_filter_never_generalises_and_the_baseline_does():
    result = f1(arms({"plain": [3000, 3500, 4000], "ema": [NEVER, NEVER, NEVER]}))
    assert result.status == "fail" and np.isclose(result.value, 0.35) and result.support == 0
    assert "(upper bound" in result.detail and "seed 3: >10000 vs 4000" in result.detail
    # a baseline seed censored too: resamples of mostly that seed know nothing, so no failure is established
    result = f1(arms({"plain": [3000, 3500, NEVER], "ema": [NEVER, NEVER, NEVER]}))
    assert result.status == "inconclusive" and 0.025 < result.support < 0.5


def test_f1_censored_baseline_passes_when_even_the_budget_is_five_times_later():
    result = f1(arms({"plain": [NEVER, NEVER, 9000], "ema": [1500, 1800, 2000]}))
    assert result.status == "pass" and np.isclose(result.value, 10000 / 1800) and "(lower bound" in result.detail


def test_f1_is_inconclusive_when_the_censored_baseline_leaves_it_open():
    result = f1(arms({"plain": [NEVER, NEVER, 9000], "ema": [3000, 3000, 3000]}))
    assert result.status == "inconclusive" and not result.passed
    assert "inconclusive: the lower bound 3.33x does not decide it" in result.detail


def test_f1_is_inconclusive_when_neither_arm_generalises():
    result = f1(arms({"plain": [NEVER] * 3, "ema": [NEVER] * 3}))
    assert result.status == "inconclusive" and "unknown" in result.detail


def test_f1_is_inconclusive_when_the_seeds_disagree():
    """One seed speeds up 10x, two 3x: the median fails, but resampled seeds pass often enough that no failure
    is established."""
    result = f1(arms({"plain": [3000, 3000, 3000], "ema": [300, 1000, 1000]}))
    assert result.status == "inconclusive" and np.isclose(result.value, 3.0) and 0.025 < result.support < 1
    assert result.interval == [3.0, 10.0]


def test_f1_needs_both_arms():
    result = f1(arms({"plain": [3000, 3000, 3000]}))
    assert result.status == "inconclusive" and "no runs" in result.detail


def test_f1_control_raising_the_learning_rate_makes_it_not_discriminating_when_it_passes_too():
    curves = arms({"plain": [3000, 3500, 4000], "ema": [500, 600, 800], "lr_gain": [600, 600, 700]})
    result = f1(curves)
    control = f1(curves, treated="lr_gain")
    judged = with_controls(result, [({}, "lr x3", control)])
    assert control.passed and judged.status == "not_discriminating"
    curves = arms({"plain": [3000, 3500, 4000], "ema": [500, 600, 800], "lr_gain": [1000, 1100, 1300]})
    judged = with_controls(f1(curves), [({}, "lr x3", f1(curves, treated="lr_gain"))])
    assert judged.status == "pass" and judged.control["status"] == "fail"


# -- coupled L2 after the filter: the authors' order (filter p.grad, then torch.optim.Adam(weight_decay=λ)) ----
def _coupled_runs(arms):
    """One vmapped group of `arms` (per-run λ, weight decay, lr) over the chain [grokfast_ema, l2_coupled]."""
    variants = [{"name": f"arm{k}", "lr": lr,
                 "transforms": [{"kind": "grokfast_ema", "alpha": 0.98, "lamb": lamb},
                                {"kind": "l2_coupled", "weight_decay": wd}]} for k, (lamb, wd, lr) in enumerate(arms)]
    raw = tiny_spec(optimizer={"lr": 1e-3, "weight_decay": 0.0, "betas": [0.9, 0.98], "warmup_steps": 10},
                    sweep={"optimizer": variants}, seeds={"development": [0], "verdict": [1]},
                    checks=[{"name": "F1", "kind": "speedup_to_generalise", "statement": "s",
                            "params": {"treated": "arm0", "baseline": "arm1"}}])
    runs = expand_runs(resolved(raw))
    assert len({r.group_key for r in runs}) == 1
    return runs


PHASE = {"w": torch.arange(15.0).view(5, 3), "b": torch.arange(3.0)}


def _toy_gradient(name: str, theta: torch.Tensor, target: torch.Tensor, step: int) -> torch.Tensor:
    """A gradient with a slow part (towards a target) and a fast, alternating part, as a minibatch might give;
    the same function of one run's tensor whether it comes stacked (run axis first) or alone."""
    return (theta - target) * 0.5 + torch.cos(PHASE[name] + step) * (-1.0) ** step


@pytest.mark.parametrize("everyone", [True, False])
def test_coupled_l2_after_the_filter_is_torch_adam_with_weight_decay_after_gradfilter_ema(everyone):
    """Our chain over stacked runs against, run by run, the authors' main.py: gradfilter_ema on p.grad, then
    torch.optim.Adam(weight_decay=λ).step() with the same warm-up; equal to float rounding over 60 steps
    (everyone=True takes the fused AdamW kernel, False the elementwise path)."""
    from grokrepro.train.optim import Optimiser

    arms = [(2.0, 0.005, 1e-3), (0.0, 0.005, 1e-3), (2.0, 0.0, 1e-3), (0.0, 0.05, 3e-3)]
    runs = _coupled_runs(arms)
    optimiser = Optimiser(runs, torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    start = {"w": torch.randn(4, 5, 3, generator=generator), "b": torch.randn(4, 3, generator=generator)}
    target = {k: torch.randn(v.shape, generator=generator) for k, v in start.items()}
    params = {k: v.clone() for k, v in start.items()}
    state = optimiser.init(params)
    active = torch.ones(len(runs), dtype=torch.bool)
    for step in range(60):
        grads = {k: _toy_gradient(k, params[k], target[k], step) for k in params}
        state = optimiser.step(params, grads, state, step, active, everyone)
    for k, (lamb, wd, lr) in enumerate(arms):
        theirs = {n: torch.nn.Parameter(start[n][k].clone()) for n in start}
        adam = torch.optim.Adam(theirs.values(), lr=lr, betas=(0.9, 0.98), eps=1e-8, weight_decay=wd)
        schedule = torch.optim.lr_scheduler.LambdaLR(adam, lambda s: min(1.0, (s + 1) / 10))
        ema = None
        for step in range(60):
            for n, p in theirs.items():
                p.grad = _toy_gradient(n, p.detach(), target[n][k], step)
            if ema is None:  # gradfilter_ema: the average starts at the first gradient
                ema = {n: p.grad.detach().clone() for n, p in theirs.items()}
            for n, p in theirs.items():
                ema[n] = ema[n] * 0.98 + p.grad.detach() * (1 - 0.98)
                p.grad = p.grad + ema[n] * lamb
            adam.step()
            schedule.step()
        for n in start:
            torch.testing.assert_close(params[n][k], theirs[n].detach(), rtol=1e-5, atol=1e-6, msg=f"arm {k}, {n}")
    # the L2 term matters: without it (arm 2 against arm 0) the weights end elsewhere
    assert not torch.allclose(params["w"][0], params["w"][2], atol=1e-3)


def test_coupled_l2_is_not_the_decoupled_decay():
    """A loss gradient that L2 exactly cancels (−λθ): coupled, Adam sees a zero gradient and the weights stay;
    decoupled, Adam follows the loss's gradient and the decay only shrinks the weights a little."""
    from grokrepro.train.optim import Optimiser

    coupled = Optimiser(_coupled_runs([(0.0, 0.05, 1e-2), (0.0, 0.0, 1e-2)])[:1], torch.device("cpu"))
    raw = tiny_spec(optimizer={"lr": 1e-2, "weight_decay": 0.05, "warmup_steps": 10}, sweep={},
                    checks=[{"name": "G1", "kind": "delayed_generalisation", "statement": "s"}])
    decoupled = Optimiser(expand_runs(resolved(raw))[:1], torch.device("cpu"))
    outcomes = []
    for optimiser in (coupled, decoupled):
        params = {"w": torch.ones(1, 4) * 3.0}
        state = optimiser.init(params)
        for step in range(50):
            state = optimiser.step(params, {"w": -0.05 * params["w"]}, state, step,
                                   torch.ones(1, dtype=torch.bool), True)
        outcomes.append(params["w"].clone())
    torch.testing.assert_close(outcomes[0], torch.full((1, 4), 3.0))
    assert (outcomes[1] > 3.2).all()


def test_resume_mid_run_is_bit_exact_with_coupled_l2_after_the_filter(tmp_path, monkeypatch):
    train = {"steps": 30, "log_every": 5, "log_points": 5, "checkpoint_every": 10}
    runs = _runs([{"kind": "grokfast_ema", "alpha": 0.9, "lamb": 2.0}, {"kind": "l2_coupled", "weight_decay": 0.01}],
                 train=train)
    uninterrupted, resumed, _, saves = interrupted_and_resumed(runs, tmp_path / "group.pt", monkeypatch)
    assert saves == [10, 20]
    for name in uninterrupted.metrics:
        np.testing.assert_array_equal(resumed.metrics[name], uninterrupted.metrics[name])


def test_the_spec_puts_coupled_l2_after_the_filter_and_judges_filter_only_arms_at_paper_scale():
    from pathlib import Path

    from grokrepro.spec import load_spec

    path = Path(__file__).parents[1] / "specs" / "grokfast.yaml"
    default = expand_runs(load_spec(path, "default"))
    by_arm = {r.coords["optimizer"]: r for r in default}
    assert [t.kind for t in by_arm["ema_l2"].optimizer.transforms] == ["grokfast_ema", "l2_coupled"]
    assert all(r.optimizer.weight_decay == 0 for r in default)  # no decoupled decay anywhere
    # the compared arms differ only in per-run fields, so they train together
    assert len({by_arm[a].group_key for a in ("plain_l2", "ema_l2", "lrk_l2", "lrk_ma_l2")}) == 1
    checks = {c.name: c for c in load_spec(path, "paper").checks}
    assert (checks["F1"].params["treated"], checks["F1"].params["baseline"]) == ("ema_wd0", "plain_wd0")
    assert (checks["F2"].params["treated"], checks["F2"].params["baseline"]) == ("ma_wd0", "plain_wd0")
    paper = {r.coords["optimizer"]: r for r in expand_runs(load_spec(path, "paper"))}
    for arm in ("ema_wd0", "ma_wd0", "lr3_wd0", "lr6_wd0"):
        assert paper[arm].optimizer.transforms[-1].weight_decay == 0.0, arm
