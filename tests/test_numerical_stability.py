"""numerical_stability (Prieto et al. 2025): ⊥Grad, StableMax cross-entropy, the softmax-collapse probe, and the
checks N1-N3 on synthetic curves."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import xarray as xr
from torch.nn import functional as F

from grokrepro.claims.numerical_stability import (CollapseParams, DelayParams, GeneraliseParams, collapse_delayed,
                                                  collapse_without_generalisation, generalises_without_weight_decay)
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
    """Curves per arm and seed: test acc jumps to `test` at `t_gen` (inf: stays at 0.02), the softmax-collapse
    share jumps to `sc` at `t_sc` (inf: stays 0). Each value is one number for every seed or a list per seed."""
    rows = {"train_acc": [], "test_acc": [], "softmax_collapse": []}
    arm_coord, seed_coord = [], []
    for arm, settings in spec.items():
        for k, seed in enumerate(SEEDS):
            get = lambda key, default: (np.broadcast_to(settings.get(key, default), len(SEEDS))[k])  # noqa: E731
            t_gen, t_sc = get("t_gen", NEVER), get("t_sc", NEVER)
            rows["train_acc"].append(np.where(STEPS >= 200, 1.0, 0.02))
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
