"""numerical_stability (Prieto et al. 2025): ⊥Grad, StableMax cross-entropy, the softmax-collapse probe, and the
checks N1-N3 on synthetic curves."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import xarray as xr
from torch.nn import functional as F

from grokrepro.claims.numerical_stability import (CollapseParams, DelayParams, GeneraliseParams, NoCollapseParams,
                                                  NoOverfittingParams, PeakGainParams, collapse_delayed,
                                                  collapse_prevented, collapse_without_generalisation,
                                                  generalises_without_overfitting_phase,
                                                  generalises_without_weight_decay, higher_peak_accuracy)
from grokrepro.claims.verdict import with_controls
from grokrepro.spec import expand_runs
from grokrepro.spec.schema import Check
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer
from grokrepro.train.losses import stablemax_cross_entropy
from grokrepro.train.optim import StepContext, transform_class
from grokrepro.registry import PROBES
from grokrepro.train.probes import softmax_collapse
from grokrepro.train.transforms.orthogonal import orthogonal_gradient
from helpers import interrupted_and_resumed, resolved, tiny_spec


# -- ⊥Grad ---------------------------------------------------------------------------------------------------
def authors_orthogonal(weight: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """The authors' OrthoGrad._orthogonalize_gradients for one (unstacked) tensor, written as they do."""
    w, g = weight.view(-1), grad.reshape(-1)
    w_norm_sq = torch.dot(w, w) + 1e-30
    proj = torch.dot(w, g) / w_norm_sq
    g_orth = g - proj * w
    g_orth_scaled = g_orth * (g.norm(2) / (g_orth.norm(2) + 1e-30))
    return g_orth_scaled.view_as(grad)


def _stacked(shape=(3, 5, 4), seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=generator, dtype=torch.float64),
            torch.randn(*shape, generator=generator, dtype=torch.float64))


def test_orthogonal_gradient_is_orthogonal_to_each_runs_weights_and_keeps_its_norm():
    weight, grad = _stacked()
    out = orthogonal_gradient(grad, weight)
    dots = (out * weight).flatten(1).sum(1)
    torch.testing.assert_close(dots, torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(out.flatten(1).norm(dim=1), grad.flatten(1).norm(dim=1))
    # not a no-op: the component along the weights is gone
    assert not torch.allclose(out, grad)


def test_orthogonal_gradient_matches_the_authors_formula_run_by_run():
    weight, grad = _stacked((4, 7, 3), seed=1)
    out = orthogonal_gradient(grad, weight)
    for k in range(4):
        torch.testing.assert_close(out[k], authors_orthogonal(weight[k], grad[k]))
    plain = orthogonal_gradient(grad, weight, rescale=False)
    for k in range(4):
        w, g = weight[k].flatten(), grad[k].flatten()
        torch.testing.assert_close(plain[k].flatten(), g - (w @ g) / (w @ w) * w)


def test_orthogonal_gradient_is_per_tensor_in_the_registered_transformation():
    """Each parameter tensor is projected on its own weights (as the authors' code does), not all at once."""
    cls = transform_class("orthogonal_gradient")
    transformation = cls([cls.Settings()], torch.device("cpu"))
    params = {"a": _stacked((2, 3, 3), 2)[0], "b": _stacked((2, 6), 3)[0]}
    grads = {"a": _stacked((2, 3, 3), 4)[1], "b": _stacked((2, 6), 5)[1]}
    out, state = transformation.update(grads, transformation.init(params), params,
                                       StepContext(step=0, lr=torch.ones(2)))
    assert state == {}
    for name in params:
        for k in range(2):
            torch.testing.assert_close(out[name][k], authors_orthogonal(params[name][k], grads[name][k]))
    # the inputs are left alone (the optimiser layer's contract: new tensors out)
    assert not torch.equal(out["a"], grads["a"])


def test_orthogonal_gradient_of_a_gradient_along_the_weights_is_zero_not_nan():
    weight = torch.ones(1, 4)
    out = orthogonal_gradient(3 * weight, weight)
    assert torch.isfinite(out).all() and float(out.abs().max()) < 1e-6


# -- StableMax cross-entropy ------------------------------------------------------------------------------
def authors_stablemax_cross_entropy(logits, labels):
    """The authors' utils.py: s(x) = 1/(1 - x + 1e-30) below 0, x + 1 from 0; log(s / sum s); per example."""
    s = torch.where(logits < 0, 1 / (1 - logits + 1e-30), logits + 1)
    logprobs = torch.log(s / torch.sum(s, dim=-1, keepdim=True))
    return -torch.gather(logprobs, index=labels[:, None], dim=-1).squeeze(-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stablemax_cross_entropy_matches_the_authors_code_and_its_gradient(dtype):
    generator = torch.Generator().manual_seed(0)
    logits = (torch.randn(64, 11, generator=generator) * 5).to(dtype)
    labels = torch.randint(0, 11, (64,), generator=generator)
    ours = logits.clone().requires_grad_(True)
    theirs = logits.clone().requires_grad_(True)
    loss = stablemax_cross_entropy(ours, labels, reduction="none")
    reference = authors_stablemax_cross_entropy(theirs, labels)
    torch.testing.assert_close(loss, reference)
    loss.mean().backward()
    reference.mean().backward()
    torch.testing.assert_close(ours.grad, theirs.grad)
    torch.testing.assert_close(stablemax_cross_entropy(logits, labels), reference.mean().detach())


def test_stablemax_is_softmax_of_log_s():
    """Proposition 1 of the paper: StableMax is Softmax applied to log s(x)."""
    logits = torch.tensor([[-3.0, 0.0, 2.5, -0.5]], dtype=torch.float64)
    s = torch.where(logits >= 0, logits + 1, 1 / (1 - logits))
    for label in range(4):
        torch.testing.assert_close(stablemax_cross_entropy(logits, torch.tensor([label])),
                                   F.cross_entropy(s.log(), torch.tensor([label])))


# -- the softmax-collapse probe ----------------------------------------------------------------------------
def _fake_trainer(logits: torch.Tensor, labels: torch.Tensor, loss_dtype, loss=F.cross_entropy):
    """What the probe reads of a trainer, with the network replaced by fixed logits (run, example, class)."""
    return SimpleNamespace(
        regression=False, device=torch.device("cpu"), params={}, buffers={},
        train_x=torch.zeros(*labels.shape, 2, dtype=torch.long), train_y=labels,
        _forward=lambda params, buffers, x: logits[:, : x.shape[1]] if x.shape[1] == logits.shape[1] else logits,
        _loss_of=lambda outputs, y, reduction: loss(outputs.to(loss_dtype), y, reduction=reduction))


def _margins(margins, classes=7):
    """Logits with the correct class (label 0) `margin` above every other class, one row per example."""
    rows = torch.zeros(len(margins), classes)
    rows[:, 0] = torch.tensor(margins, dtype=torch.float32)
    return rows


def test_softmax_collapse_counts_examples_at_exactly_zero_loss_in_the_loss_dtype():
    # margins 5 (loss ~0.04), 20 and 40: exp(-20) * 6 is below float32's half-ulp of 1, exp(-40) below float64's
    logits = torch.stack([_margins([5.0, 20.0, 40.0, 40.0]), _margins([5.0, 5.0, 5.0, 5.0])])
    labels = torch.zeros(2, 4, dtype=torch.long)
    single = softmax_collapse(_fake_trainer(logits, labels, torch.float32), None, np.array([True, True]))
    np.testing.assert_allclose(single["softmax_collapse"], [0.75, 0.0])
    double = softmax_collapse(_fake_trainer(logits, labels, torch.float64), None, np.array([True, True]))
    np.testing.assert_allclose(double["softmax_collapse"], [0.5, 0.0])
    # a run not logged at this step is NaN
    masked = softmax_collapse(_fake_trainer(logits, labels, torch.float32), None, np.array([True, False]))
    assert masked["softmax_collapse"][0] == 0.75 and np.isnan(masked["softmax_collapse"][1])
    assert PROBES["softmax_collapse"].load() is softmax_collapse


def test_softmax_collapse_misclassified_examples_never_count():
    logits = _margins([-40.0, 40.0])[None]
    labels = torch.zeros(1, 2, dtype=torch.long)
    values = softmax_collapse(_fake_trainer(logits, labels, torch.float32), None, np.array([True]))
    np.testing.assert_allclose(values["softmax_collapse"], [0.5])


def test_softmax_collapse_under_stablemax_needs_far_larger_logits():
    logits = _margins([40.0, 1e7])[None]
    labels = torch.zeros(1, 2, dtype=torch.long)
    values = softmax_collapse(_fake_trainer(logits, labels, torch.float32, stablemax_cross_entropy), None,
                              np.array([True]))
    np.testing.assert_allclose(values["softmax_collapse"], [0.5])


def test_the_probe_is_logged_by_a_real_trainer():
    runs = expand_runs(resolved(tiny_spec(
        train={"steps": 20, "log_every": 5, "log_points": 0, "checkpoint_every": 10,
               "probes": [{"kind": "softmax_collapse", "every": 5}]})))
    result = EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs]).run(progress=False)
    values = result.metrics["softmax_collapse"]
    assert values.shape == (len(runs), len(result.steps)) and np.isfinite(values).all()
    assert ((values >= 0) & (values <= 1)).all()


# -- resume with ⊥AdamW -------------------------------------------------------------------------------------
def test_resume_is_exact_with_the_orthogonal_transform(tmp_path, monkeypatch):
    runs = expand_runs(resolved(tiny_spec(
        optimizer={"lr": 1e-2, "weight_decay": 0.0, "eps": 1e-25, "transforms": [{"kind": "orthogonal_gradient"}]},
        sweep={"optimizer.weight_decay": [0.0]}, checks=[{"name": "N", "kind": "generalises_without_weight_decay",
                                                          "statement": "s", "where": {"weight_decay": 0.0}}],
        train={"steps": 30, "log_every": 5, "log_points": 0, "checkpoint_every": 10,
               "probes": [{"kind": "softmax_collapse", "every": 5}]})))
    uninterrupted, resumed, trainer, _ = interrupted_and_resumed(runs, tmp_path / "group.pt", monkeypatch)
    assert trainer.optimiser.chain[-1].kind == "orthogonal_gradient"
    for name in uninterrupted.metrics:
        np.testing.assert_array_equal(resumed.metrics[name], uninterrupted.metrics[name])


# -- the checks on synthetic curves ------------------------------------------------------------------------
STEPS = np.arange(0, 4001, 100)
SEEDS = [200, 201, 202]
NEVER = np.inf


def arms(spec: dict[str, dict]) -> xr.Dataset:
    """Curves per arm and seed: train acc jumps to 1 at `t_fit` (200 unless given), test acc to `test` at `t_gen`
    (inf: stays at 0.02), the softmax-collapse
    share jumps to `sc` at `t_sc` (inf: stays 0). Each value is one number for every seed or a list per seed."""
    rows = {"train_acc": [], "test_acc": [], "softmax_collapse": []}
    arm_coord, seed_coord = [], []
    for arm, settings in spec.items():
        for k, seed in enumerate(SEEDS):
            get = lambda key, default: (np.broadcast_to(settings.get(key, default), len(SEEDS))[k])  # noqa: E731
            t_gen, t_sc = get("t_gen", NEVER), get("t_sc", NEVER)
            rows["train_acc"].append(np.where(STEPS >= get("t_fit", 200), 1.0, 0.02))
            rows["test_acc"].append(np.where(STEPS >= t_gen, get("test", 1.0), 0.02))
            rows["softmax_collapse"].append(np.where(STEPS >= t_sc, get("sc", 0.9), 0.0))
            arm_coord.append(arm)
            seed_coord.append(seed)
    n = len(arm_coord)
    return xr.Dataset(
        {name: (("run", "step"), np.array(values)) for name, values in rows.items()}
        | {"diverged_at": ("run", np.full(n, -1)), "stopped_at": ("run", np.full(n, -1))},
        coords={"run": [f"r{i}" for i in range(n)], "step": STEPS, "seed": ("run", seed_coord),
                "optimizer": ("run", arm_coord)})


def _check(name, kind, where=None):
    return Check(name=name, kind=kind, statement="s", where=where or {})


def n1(curves, arm="ce_float32", **params):
    return collapse_without_generalisation(curves, _check("N1", "collapse_without_generalisation",
                                                          {"optimizer": arm}), CollapseParams(**params))


def n2(curves, arm="orthogonal", **params):
    return generalises_without_weight_decay(curves, _check("N2", "generalises_without_weight_decay",
                                                           {"optimizer": arm}), GeneraliseParams(**params))


def n3(curves, **params):
    return collapse_delayed(curves, _check("N3", "collapse_delayed"), DelayParams(**params))


def test_n1_passes_when_collapse_comes_and_test_accuracy_stays_at_chance():
    result = n1(arms({"ce_float32": {"t_sc": 1000}}))
    assert result.passed and result.status == "pass" and result.value == 1.0
    assert "seed 200: SC share peaks at 0.900, >= 0.5 from step 1000; test acc at most 0.020" in result.detail


def test_n1_fails_when_the_run_generalises_or_never_collapses():
    grokking = n1(arms({"ce_wd1": {"t_gen": 1500, "t_sc": 1000}}), arm="ce_wd1")
    assert not grokking.passed and grokking.status == "fail"
    no_collapse = n1(arms({"ce_float32": {}}))
    assert not no_collapse.passed and no_collapse.status == "fail" and no_collapse.value == 0.0
    too_little = n1(arms({"ce_float32": {"t_sc": 1000, "sc": 0.3}}))
    assert too_little.status == "fail"


def test_n1_within_seed_uncertainty_is_inconclusive():
    result = n1(arms({"ce_float32": {"t_sc": [1000, NEVER, NEVER]}}))
    assert not result.passed and result.status == "inconclusive" and np.isclose(result.value, 1 / 3)


def test_n1_without_the_probe_is_inconclusive():
    result = n1(arms({"ce_float32": {"t_sc": 1000}}).drop_vars("softmax_collapse"))
    assert result.status == "inconclusive" and "softmax_collapse" in result.detail


def test_n2_passes_fails_and_is_inconclusive_when_the_budget_is_shorter_than_the_papers():
    curves = arms({"orthogonal": {"t_gen": 300}, "stablemax": {}})
    passed = n2(curves)
    assert passed.passed and passed.status == "pass" and "test acc 0.95 at step 300" in passed.detail
    failed = n2(curves, arm="stablemax")
    assert not failed.passed and failed.status == "fail" and "never test acc 0.95 (final 0.020)" in failed.detail
    short = n2(curves, arm="stablemax", paper_steps=80000)
    assert not short.passed and short.status == "inconclusive"
    assert short.detail.startswith("the budget (4000 steps) is shorter than the 80000 steps")
    # a budget as long as the paper's: the failure stands
    assert n2(curves, arm="stablemax", paper_steps=4000).status == "fail"
    # a pass is a pass whatever the paper's budget
    assert n2(curves, paper_steps=80000).status == "pass"


def test_n2_partial_generalisation_is_inconclusive():
    result = n2(arms({"orthogonal": {"t_gen": [300, NEVER, NEVER]}}))
    assert not result.passed and result.status == "inconclusive"
    assert n2(arms({"orthogonal": {"t_gen": 300, "test": 0.9}})).status == "fail"


def test_n2_refuses_runs_with_weight_decay():
    curves = arms({"orthogonal": {"t_gen": 300}})
    curves = curves.assign_coords(weight_decay=("run", np.full(curves.sizes["run"], 1.0)))
    assert n2(curves).status == "inconclusive"


def test_n3_passes_when_float64_collapses_later_or_never():
    result = n3(arms({"ce_float32": {"t_sc": 1000}, "ce_float64": {"t_sc": [2900, 3000, NEVER]}}))
    assert result.passed and result.status == "pass" and np.isclose(result.value, 3.0)
    assert "seed 202: inf vs 1000" in result.detail
    never = n3(arms({"ce_float32": {"t_sc": 1000}, "ce_float64": {}}))
    assert never.passed and never.value == np.inf


def test_n3_fails_without_a_delay_and_its_control_fails():
    curves = arms({"ce_float32": {"t_sc": 1000}, "ce_float64": {"t_sc": 1100}})
    result = n3(curves)
    assert not result.passed and result.status == "fail" and np.isclose(result.value, 1.1)
    control = n3(curves, treated="ce_float32")
    assert not control.passed and control.status == "fail" and control.value == 1.0


def test_n3_is_inconclusive_when_the_baseline_never_collapses_or_the_seeds_disagree():
    none = n3(arms({"ce_float32": {}, "ce_float64": {}}))
    assert none.status == "inconclusive" and "nothing to delay" in none.detail
    mixed = n3(arms({"ce_float32": {"t_sc": 1000}, "ce_float64": {"t_sc": [3000, 3000, 1000]}}))
    assert mixed.passed  # median 3
    mixed = n3(arms({"ce_float32": {"t_sc": 1000}, "ce_float64": {"t_sc": [3000, 1000, 1000]}}))
    assert not mixed.passed and mixed.status == "inconclusive" and 0 < mixed.support < 1


def test_n3_needs_both_arms():
    result = n3(arms({"ce_float32": {"t_sc": 1000}}))
    assert result.status == "inconclusive"


# -- N2a: generalisation without an overfitting phase (t_gen <= 2 t_fit) -------------------------------------------
def n2a(curves, arm="orthogonal", **params):
    return generalises_without_overfitting_phase(
        curves, _check("N2a", "generalises_without_overfitting_phase", {"optimizer": arm}),
        NoOverfittingParams(**params))


def test_n2a_passes_when_test_follows_train_within_twice_its_time():
    result = n2a(arms({"orthogonal": {"t_fit": 300, "t_gen": 400}}))
    assert result.passed and result.status == "pass" and result.value == 1.0
    assert "seed 200: train acc 0.99 at step 300, test acc 0.95 at step 400 (1.33x t_fit)" in result.detail
    # exactly twice t_fit still holds
    assert n2a(arms({"orthogonal": {"t_fit": 300, "t_gen": 600}})).status == "pass"


def test_n2a_fails_on_a_grokking_delay_and_when_never_generalising_and_both_controls_fail():
    curves = arms({"orthogonal": {"t_fit": 300, "t_gen": 400}, "ce_float32": {"t_fit": 300},
                   "ce_wd1": {"t_fit": 300, "t_gen": 1500}})
    delayed = n2a(curves, arm="ce_wd1")
    assert not delayed.passed and delayed.status == "fail" and "(5.00x t_fit)" in delayed.detail
    never = n2a(curves, arm="ce_float32")
    assert never.status == "fail" and "never test acc 0.95" in never.detail
    judged = with_controls(n2a(curves), [({"optimizer": "ce_float32"}, "collapses", never),
                                         ({"optimizer": "ce_wd1"}, "groks late", delayed)])
    assert judged.status == "pass"
    # a control that generalises without delay too makes it not discriminating
    quick = n2a(arms({"ce_wd1": {"t_fit": 300, "t_gen": 500}}), arm="ce_wd1")
    assert with_controls(n2a(curves), [({"optimizer": "ce_wd1"}, "groks late", quick)]).status == "not_discriminating"


def test_n2a_is_inconclusive_when_the_budget_ends_before_twice_t_fit_or_the_seeds_disagree():
    late_fit = n2a(arms({"orthogonal": {"t_fit": 2500}}))  # 2 x 2500 > the 4000-step budget
    assert not late_fit.passed and late_fit.status == "inconclusive"
    assert late_fit.detail.startswith("3 runs end before 2x their t_fit without generalising")
    mixed = n2a(arms({"orthogonal": {"t_fit": 300, "t_gen": [400, 1500, 1500]}}))
    assert not mixed.passed and mixed.status == "inconclusive" and np.isclose(mixed.value, 1 / 3)


# -- N2b′: no softmax collapse under StableMax -------------------------------------------------------------------
def n2b_prime(curves, arm="stablemax", **params):
    return collapse_prevented(curves, _check("N2b′", "collapse_prevented", {"optimizer": arm}),
                              NoCollapseParams(**params))


def test_n2b_prime_passes_without_zero_loss_examples_and_its_control_fails():
    curves = arms({"stablemax": {}, "ce_float32": {"t_sc": 1000}})
    result = n2b_prime(curves)
    assert result.passed and result.status == "pass"
    assert "seed 200: SC share at most 0 (probe logged to step 4000)" in result.detail
    control = n2b_prime(curves, arm="ce_float32")
    assert not control.passed and control.status == "fail" and control.value == 0.0


def test_n2b_prime_fails_on_even_a_small_collapsed_share():
    result = n2b_prime(arms({"stablemax": {"t_sc": 3000, "sc": 0.01}}))
    assert result.status == "fail"
    assert n2b_prime(arms({"stablemax": {"t_sc": 3000, "sc": 0.01}}), max_sc_share=0.05).status == "pass"


def test_n2b_prime_is_inconclusive_without_the_probe_or_its_values():
    curves = arms({"stablemax": {}})
    assert n2b_prime(curves.drop_vars("softmax_collapse")).status == "inconclusive"
    unlogged = curves.copy(deep=True)
    unlogged["softmax_collapse"][:] = np.nan
    result = n2b_prime(unlogged)
    assert result.status == "inconclusive" and "the probe was never logged" in result.detail
    # one seed of three never collapses: within seed uncertainty
    mixed = n2b_prime(arms({"stablemax": {"t_sc": [1000, 1000, NEVER]}}))
    assert mixed.status == "inconclusive" and np.isclose(mixed.value, 1 / 3) and 0 < mixed.support < 1


# -- N3b: float64 softmax reaches a higher test accuracy ---------------------------------------------------------
def n3b(curves, **params):
    return higher_peak_accuracy(curves, _check("N3b", "higher_peak_accuracy"), PeakGainParams(**params))


def test_n3b_passes_on_a_gain_of_a_tenth_and_its_control_fails():
    curves = arms({"ce_float32": {"t_gen": 1000, "test": 0.65}, "ce_float64": {"t_gen": 1500, "test": 0.9}})
    result = n3b(curves)
    assert result.passed and result.status == "pass" and result.value == 1.0
    assert "seed 200: 0.900 vs 0.650 (gain +0.250)" in result.detail
    control = n3b(curves, treated="ce_float32")
    assert control.status == "fail" and "median gain +0.000" in control.detail
    assert with_controls(result, [({}, "itself", control)]).status == "pass"


def test_n3b_fails_on_a_small_gain():
    result = n3b(arms({"ce_float32": {"t_gen": 1000, "test": 0.3}, "ce_float64": {"t_gen": 1000, "test": 0.35}}))
    assert not result.passed and result.status == "fail"


def test_n3b_is_inconclusive_without_room_for_the_gain_or_with_too_few_seeds():
    ceiling = n3b(arms({"ce_float32": {"t_gen": 1000, "test": 0.95}, "ce_float64": {"t_gen": 1000, "test": 1.0}}))
    assert ceiling.status == "inconclusive" and "leaving no room" in ceiling.detail
    one_arm = n3b(arms({"ce_float32": {"t_gen": 1000, "test": 0.3}}))
    assert one_arm.status == "inconclusive" and "only 0 seeds" in one_arm.detail


# -- the shipped spec -------------------------------------------------------------------------------------------
def test_the_spec_counts_n2b_at_the_papers_budget_only_and_follows_the_authors_network_there():
    from pathlib import Path

    from grokrepro.spec import load_spec

    path = Path(__file__).parents[1] / "specs" / "numerical_stability.yaml"
    counted = {scale: {c.name: c.counts_for_verdict for c in load_spec(path, scale).checks}
               for scale in ("default", "paper")}
    assert counted["paper"]["N2b"] and not counted["default"]["N2b"]
    assert counted["default"]["N2b′"] and counted["default"]["N3b"] and counted["default"]["N2a"]
    paper = expand_runs(load_spec(path, "paper"))
    assert {(r.model.tables, r.model.bias) for r in paper} == {("one_hot", False)}
    orthogonal = [r for r in paper if r.coords["optimizer"] == "orthogonal"]
    # the authors' wrapper leaves the stepping AdamW at torch's defaults
    assert {(tuple(r.optimizer.betas), r.optimizer.eps) for r in orthogonal} == {((0.9, 0.999), 1e-8)}
    assert max(r.train.steps for r in paper if r.coords["optimizer"] == "stablemax") == 100000


def test_a_scale_may_say_whether_a_check_counts(tmp_path):
    from helpers import write_spec

    from grokrepro.spec import load_spec

    raw = tiny_spec(scales={"smoke": {}, "default": {"checks": {"G1": {"counts_for_verdict": False}}}, "paper": {}})
    path = write_spec(tmp_path, raw)
    assert not load_spec(path, "default").checks[0].counts_for_verdict
    assert load_spec(path, "paper").checks[0].counts_for_verdict
