"""SGD with momentum / Nesterov and learning-rate schedules (grokrepro.train.optim, grokrepro/schedules): the same
parameters as torch.optim.SGD / AdamW under torch.optim.lr_scheduler, exact resume, a schedule from a plug-in
file, and clear errors for a bad schedule."""

from typing import Literal

import numpy as np
import pytest
import torch
from pydantic import Field

from grokrepro.registry import SCHEDULES, Strict, load_plugins
from grokrepro.spec import expand_runs
from grokrepro.spec.load import SpecError
from grokrepro.spec.schema import validate_optimizer
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer
from grokrepro.train.optim import Optimiser
from helpers import interrupted_and_resumed, resolved, tiny_spec

STEPS = 200
WARMUP = 10


# -- a schedule kind added here, as a plug-in would ---------------------------------------------------------------
class HalfSettings(Strict):
    kind: Literal["test_half"] = "test_half"
    factor: float = Field(default=0.5, gt=0)


SCHEDULES.register("test_half", HalfSettings, lambda settings, step, total_steps: settings.factor)


def _runs(optimizer, steps=STEPS, **changes):
    train = {"steps": steps, "log_every": 50, "log_points": 0, "checkpoint_every": 1000}
    changes.setdefault("sweep", {"optimizer.weight_decay": [optimizer.get("weight_decay", 0.0)]})
    changes.setdefault("checks", [{"name": "G1", "kind": "delayed_generalisation", "statement": "s"}])
    return expand_runs(resolved(tiny_spec(optimizer=optimizer, train={**train, **changes.pop("train", {})},
                                          **changes)))


def _datasets(runs):
    return [make_dataset(r.task, r.split_seed) for r in runs]


def _trained(runs):
    trainer = EnsembleTrainer(runs, _datasets(runs))
    trainer.run(progress=False)
    return trainer


# -- torch's own optimisers and schedulers, run by run ---------------------------------------------------------
def _torch_schedule(optimizer, spec, steps):
    """torch.optim.lr_scheduler's equivalent of the spec's warm-up and schedule."""
    from torch.optim import lr_scheduler

    warmup, schedule = spec.warmup_steps, spec.schedule.model_dump()
    after = steps - warmup
    if schedule["kind"] == "cosine":
        base = optimizer.param_groups[0]["lr"]
        main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=schedule["t_max"] or after,
                                              eta_min=base * schedule["min_factor"])
    elif schedule["kind"] == "step":
        main = lr_scheduler.StepLR(optimizer, step_size=schedule["step_size"], gamma=schedule["gamma"])
    else:
        assert schedule["kind"] == "constant"
        main = lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    if not warmup:
        return main
    # (s + 1)/W over steps 0 .. W-1, then the main schedule from its own step 0
    warming = lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1)
    return lr_scheduler.SequentialLR(optimizer, [warming, main], milestones=[warmup])


def _torch_optimiser(leaves, run):
    spec = run.optimizer
    if spec.kind == "adamw":
        return torch.optim.AdamW(leaves, lr=spec.lr, betas=spec.betas, eps=spec.eps,
                                 weight_decay=spec.weight_decay)
    # the layer's decay is decoupled (θ·(1 − ηλ)); torch.optim.SGD's would be coupled, so it is taken by hand
    return torch.optim.SGD(leaves, lr=spec.lr, momentum=spec.momentum, dampening=spec.dampening,
                           nesterov=spec.nesterov, weight_decay=0.0)


def _torch_reference(runs, steps=STEPS):
    """Each run's parameters after `steps` full-batch steps of its own torch optimiser and scheduler, from the
    trainer's initial parameters and with the trainer's gradients (a twin trainer computes them), stacked."""
    twin = EnsembleTrainer(runs, _datasets(runs))
    leaves = [{name: p[k].clone() for name, p in twin.params.items()} for k in range(len(runs))]
    optimisers = [_torch_optimiser(list(run_leaves.values()), run) for run_leaves, run in zip(leaves, runs)]
    schedulers = [_torch_schedule(opt, run.optimizer, steps) for opt, run in zip(optimisers, runs)]
    everyone = torch.ones(len(runs), dtype=torch.bool)
    for _ in range(steps):
        for k, run_leaves in enumerate(leaves):
            for name, leaf in run_leaves.items():
                twin.params[name][k].copy_(leaf)
        grads, _ = twin._gradients(twin.train_x, twin.train_y, everyone, True)
        for k, (run, optimiser, scheduler) in enumerate(zip(runs, optimisers, schedulers)):
            with torch.no_grad():
                for name, leaf in leaves[k].items():
                    leaf.grad = grads[name][k].clone()
                    if run.optimizer.kind == "sgd":
                        leaf.mul_(1 - optimiser.param_groups[0]["lr"] * run.optimizer.weight_decay)
            optimiser.step()
            scheduler.step()
    return {name: torch.stack([run_leaves[name] for run_leaves in leaves]) for name in twin.params}


SGD = {"kind": "sgd", "lr": 0.3, "weight_decay": 0.1}
ADAMW = {"kind": "adamw", "lr": 1e-2, "weight_decay": 0.5}
MOMENTUM = {**SGD, "lr": 0.1, "momentum": 0.9}
COSINE = {"kind": "cosine", "min_factor": 0.1}
STEP = {"kind": "step", "step_size": 30, "gamma": 0.5}

# (optimizer, sweep): one run, several seeds stacked (one shared rate: the fused AdamW kernel), and runs with
# rates of their own (AdamW's per-run path)
AGAINST_TORCH = {
    "momentum": (MOMENTUM, None),
    "momentum_per_run_rates": (MOMENTUM, {"optimizer.lr": [0.1, 0.03]}),
    "nesterov_per_run_decay": ({**MOMENTUM, "nesterov": True}, {"optimizer.weight_decay": [0.1, 1.0]}),
    "dampening": ({**MOMENTUM, "dampening": 0.5}, "seeds"),
    "sgd_cosine": ({**SGD, "schedule": COSINE}, None),
    "sgd_step": ({**SGD, "schedule": STEP}, "seeds"),
    "sgd_warmup_cosine_momentum": ({**MOMENTUM, "warmup_steps": WARMUP, "schedule": COSINE}, None),
    "adamw_cosine_fused": ({**ADAMW, "schedule": COSINE}, None),
    "adamw_cosine_t_max": ({**ADAMW, "schedule": {"kind": "cosine", "t_max": 70}}, "seeds"),
    "adamw_warmup_cosine_fused": ({**ADAMW, "warmup_steps": WARMUP, "schedule": COSINE}, "seeds"),
    "adamw_step_per_run": ({**ADAMW, "schedule": STEP}, {"optimizer.weight_decay": [0.1, 1.0]}),
    "adamw_warmup_step_per_run": ({**ADAMW, "warmup_steps": WARMUP, "schedule": STEP},
                                  {"optimizer.lr": [1e-2, 3e-3]}),
}


# A smooth activation: with ReLU a difference at float rounding can put a unit on the other side of its kink,
# and the trajectories then part by far more than rounding (seen with cosine schedules), whoever takes the steps.
SMOOTH_MLP = {"kind": "mlp", "embed_dim": 8, "hidden": 16, "activation": "silu"}


def _case_runs(case, steps=STEPS, **train):
    optimizer, sweep = AGAINST_TORCH[case]
    changes = {"train": train, "model": SMOOTH_MLP}
    if sweep == "seeds":
        changes["seeds"] = {"development": [0], "verdict": [1, 2, 3]}
    elif sweep is not None:
        changes["sweep"] = sweep
        axis, values = next(iter(sweep.items()))
        changes["checks"] = [{"name": "G1", "kind": "delayed_generalisation", "statement": "s",
                              "where": {axis.split(".")[-1]: values[0]}}]
    return _runs(optimizer, steps=steps, **changes)


@pytest.mark.parametrize("case", list(AGAINST_TORCH))
def test_momentum_nesterov_and_schedules_equal_torchs_own(case):
    runs = _case_runs(case)
    assert len({r.group_key for r in runs}) == 1
    trainer = _trained(runs)
    expected = _torch_reference(runs)
    for name, param in trainer.params.items():
        torch.testing.assert_close(param, expected[name], msg=lambda m: f"{case} {name}: {m}")
    moved = sum(float((trainer.params[k] - trainer.initial_params[k]).abs().max()) for k in trainer.params)
    assert moved > 1e-3  # the runs trained


def test_the_torch_comparison_tells_momentum_from_plain_sgd():
    """The comparison can fail: a plain SGD run is not torch's SGD with momentum (nor the same schedule)."""
    runs = _runs(SGD)
    trainer = _trained(runs)
    with_momentum = _torch_reference(_runs(MOMENTUM))
    assert any(not torch.allclose(trainer.params[k], with_momentum[k]) for k in trainer.params)
    cosine = _torch_reference(_runs({**SGD, "schedule": COSINE}))
    assert any(not torch.allclose(trainer.params[k], cosine[k]) for k in trainer.params)


@pytest.mark.parametrize("kind", ["cosine", "step"])
def test_the_rate_factor_is_torchs_learning_rate_step_by_step(kind):
    """The layer's rate at each step against torch's scheduler's, warm-up included, to double rounding."""
    schedule = COSINE if kind == "cosine" else STEP
    runs = _runs({**ADAMW, "warmup_steps": WARMUP, "schedule": schedule})
    optimiser = Optimiser(runs, torch.device("cpu"))
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = _torch_schedule(reference, runs[0].optimizer, STEPS)
    ours, theirs = [], []
    for step in range(STEPS):
        ours.append(optimiser.rate_factor(step))
        theirs.append(reference.param_groups[0]["lr"])
        reference.step()
        scheduler.step()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert ours[0] == 1 / WARMUP and ours[WARMUP - 1] == 1.0 and ours[-1] < 0.2


# -- what did not change -------------------------------------------------------------------------------------------
def test_new_fields_at_their_defaults_change_no_run_id_and_no_state():
    plain = {"kind": "sgd", "lr": 0.3}
    written = {**plain, "momentum": 0, "dampening": 0.0, "nesterov": False, "schedule": {"kind": "constant"}}
    assert [r.run_id for r in _runs(plain)] == [r.run_id for r in _runs(written)]
    dumped = validate_optimizer({"kind": "sgd", "lr": 0.1}).model_dump(mode="json")
    assert not {"schedule", "momentum", "dampening", "nesterov"} & set(dumped)
    # a cosine schedule written with its defaults is the same run as one without them
    assert ([r.run_id for r in _runs({**plain, "schedule": {"kind": "cosine"}})]
            == [r.run_id for r in _runs({**plain, "schedule": {"kind": "cosine", "t_max": None, "min_factor": 0}})])
    assert _runs(plain)[0].run_id != _runs({**plain, "schedule": COSINE})[0].run_id
    assert _runs(plain)[0].run_id != _runs({**plain, "momentum": 0.9})[0].run_id
    # plain SGD keeps no state (its checkpoints hold none); with momentum it keeps one buffer per parameter
    runs = _runs(plain, steps=2)
    assert Optimiser(runs, torch.device("cpu")).init(EnsembleTrainer(runs, _datasets(runs)).params)["base"] == {}
    runs = _runs(MOMENTUM, steps=2)
    trainer = EnsembleTrainer(runs, _datasets(runs))
    assert set(trainer.optimiser_state["base"]["momentum_buffer"]) == set(trainer.params)


def test_warm_up_applies_to_sgd_when_asked():
    """warmup_steps slows SGD's first steps: after one step a warmed-up run has moved 1/W as far."""
    runs, warmed = _runs(SGD, steps=1), _runs({**SGD, "warmup_steps": 4}, steps=1)
    plain, slow = _trained(runs), _trained(warmed)
    for name in plain.params:
        moved = plain.params[name] - plain.initial_params[name]
        torch.testing.assert_close(slow.params[name] - slow.initial_params[name], moved / 4,
                                   atol=1e-7, rtol=1e-4)


# -- resume -------------------------------------------------------------------------------------------------------
RESUMED = {
    "momentum": {**MOMENTUM, "dampening": 0.1},
    "nesterov": {**MOMENTUM, "nesterov": True, "warmup_steps": 5},
    "constant": {**ADAMW, "schedule": {"kind": "constant"}},
    "cosine": {**ADAMW, "warmup_steps": 5, "schedule": {"kind": "cosine", "min_factor": 0.2}},
    "step": {**MOMENTUM, "schedule": {"kind": "step", "step_size": 7}},
}


def test_every_library_schedule_has_a_resume_case():
    library = {name for name, kind in SCHEDULES.kinds().items() if kind.module.startswith("grokrepro.")}
    assert library <= set(RESUMED)


@pytest.mark.parametrize("case", list(RESUMED))
def test_resume_is_exact_mid_run(tmp_path, monkeypatch, case):
    """Killed after the step-20 checkpoint and resumed, two runs of one group log what an uninterrupted pair
    does, bit for bit (momentum's buffer travels in the checkpoint; the schedule is a function of the step)."""
    runs = _runs(RESUMED[case], steps=30, train={"checkpoint_every": 10, "log_every": 5},
                 sweep={"optimizer.weight_decay": [0.1, 1.0]},
                 checks=[{"name": "G1", "kind": "delayed_generalisation", "statement": "s",
                          "where": {"weight_decay": 0.1}}])
    uninterrupted, resumed, trainer, saves = interrupted_and_resumed(runs, tmp_path / "group.pt", monkeypatch)
    assert saves == [10, 20]
    for name in uninterrupted.metrics:
        np.testing.assert_array_equal(resumed.metrics[name], uninterrupted.metrics[name])
    fresh = _trained(runs)
    for name, param in fresh.params.items():
        assert torch.equal(trainer.params[name], param)


# -- a schedule from outside the library -----------------------------------------------------------------------
def test_a_schedule_defined_in_a_test_file_trains():
    """A constant factor of one half under SGD without weight decay is SGD at half the rate, to the bit."""
    halved = _trained(_runs({"kind": "sgd", "lr": 0.5, "schedule": {"kind": "test_half"}}, steps=40))
    plain = _trained(_runs({"kind": "sgd", "lr": 0.25}, steps=40))
    for name, param in plain.params.items():
        assert torch.equal(halved.params[name], param)
    assert not torch.equal(halved.params[name], _trained(_runs({"kind": "sgd", "lr": 0.5}, steps=40)).params[name])


def test_a_schedule_from_a_plug_in_file_validates_and_trains(tmp_path):
    (tmp_path / "lab_schedules.py").write_text(
        "from typing import Literal\n"
        "from grokrepro.registry import SCHEDULES, Strict\n\n"
        "class Linear(Strict):\n"
        "    kind: Literal['test_linear_decay'] = 'test_linear_decay'\n\n"
        "@SCHEDULES.register('test_linear_decay', Linear)\n"
        "def linear_decay(settings, step, total_steps):\n"
        "    return 1 - step / total_steps\n")
    with pytest.raises(SpecError, match="unknown schedule kind 'test_linear_decay'"):
        _runs({**SGD, "schedule": {"kind": "test_linear_decay"}})
    load_plugins(["lab_schedules.py"], tmp_path)
    runs = _runs({**SGD, "warmup_steps": 2, "schedule": {"kind": "test_linear_decay"}}, steps=12)
    optimiser = Optimiser(runs, torch.device("cpu"))
    assert [optimiser.rate_factor(s) for s in (0, 1, 2, 7)] == [0.5, 1.0, 1.0, 0.5]
    trainer = _trained(runs)
    assert all(bool(torch.isfinite(p).all()) for p in trainer.params.values())
    assert any(not torch.equal(p, trainer.initial_params[k]) for k, p in trainer.params.items())


# -- bad specs ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer, message", [
    ({**SGD, "schedule": {"kind": "no_such_schedule"}},
     r"optimizer\.schedule.*unknown schedule kind 'no_such_schedule' \(known: .*cosine.*step"),
    ({**SGD, "schedule": {"kind": "cosine", "min_factr": 0.1}}, r"optimizer\.schedule.*cosine: min_factr"),
    ({**SGD, "schedule": {"kind": "cosine", "min_factor": 2}}, r"cosine: min_factor: .*less than or equal to 1"),
    ({**SGD, "schedule": {"kind": "step"}}, r"schedule step: step_size: Field required"),
    ({**SGD, "schedule": {"kind": "step", "step_size": 0}}, r"step: step_size: .*greater than 0"),
    ({**SGD, "schedule": "cosine"}, r"a schedule is a mapping with a string `kind`"),
    ({**ADAMW, "momentum": 0.9}, r"optimizer\.momentum' = 0\.9: momentum is a setting of sgd, not of adamw \(adamw's momentum is betas\[0\]\)"),
    ({**SGD, "nesterov": True}, r"nesterov needs momentum > 0 and dampening 0"),
    ({**SGD, "momentum": 1.5}, r"optimizer\.momentum"),
])
def test_a_bad_schedule_or_momentum_is_refused_at_validation(optimizer, message):
    with pytest.raises(SpecError, match=message):
        _runs(optimizer)


def test_the_linearised_probe_refuses_momentum():
    runs = _runs({"kind": "sgd", "lr": 2.0, "momentum": 0.5}, steps=10,
                 task={"kind": "gaussian_regression", "dim": 5, "n_train": 20, "n_test": 30},
                 model={"kind": "lazy_quadratic", "width": 8},
                 train={"log_every": 10, "probes": [{"kind": "linearised_curve", "every": 10}]},
                 checks=[{"name": "L2", "kind": "lazy_phase_tracks_linearised", "statement": "s"}])
    with pytest.raises(TypeError, match="without momentum, warm-up or schedule"):
        _trained(runs)


def test_validating_a_schedule_imports_no_torch():
    """Schedules are torch-free, so `grokrepro validate` stays light; a fresh interpreter tells."""
    import subprocess
    import sys

    code = ("import sys\nfrom grokrepro.spec.schema import validate_optimizer\n"
            "validate_optimizer(dict(kind='sgd', lr=0.1, momentum=0.9, schedule={'kind': 'step', 'step_size': 5}))\n"
            "print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
