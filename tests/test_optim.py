"""The optimiser layer (grokrepro.train.optim): the same bits as the hand-written optimisers it replaced, exact
resume for every transformation, per-run hyper-parameters, and a transformation added here, in a test file,
without touching the trainer."""

from typing import Literal

import numpy as np
import pytest
import torch

from grokrepro.registry import OPTIMIZERS
from grokrepro.integrity import read_sealed, write_sealed
from grokrepro.spec import expand_runs
from grokrepro.spec.load import SpecError
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer
from grokrepro.train.losses import log_stablemax, stablemax_cross_entropy
from grokrepro.train.optim import (TRANSFORMS, TransformSettings, Transformation, per_run,
                                   register_transform, transform_class)
from helpers import interrupted_and_resumed, resolved, tiny_spec
from legacy_optimisers import LegacyTrainer

# -- a new idea, added here -------------------------------------------------------------------------------------
@register_transform
class ScaledGradient(Transformation):
    """g ← c·g with c a per-run setting: the smallest transformation with a hyper-parameter and a state (a
    count of its updates, so that resume has something to carry)."""

    kind = "test_scaled_gradient"
    per_run = ("factor",)

    class Settings(TransformSettings):
        kind: Literal["test_scaled_gradient"] = "test_scaled_gradient"
        factor: float = 1.0

    def init(self, params):
        return {"count": torch.zeros(next(iter(params.values())).shape[0])}

    def update(self, grads, state, params, ctx):
        factor = self.per_run_value("factor")
        return {k: g * per_run(factor, g) for k, g in grads.items()}, {"count": state["count"] + 1}


EARLY_STOP = {"enabled": True, "test_acc": 1e-6, "patience": 10}  # stops some runs early: the masked path


def _train(**t):
    return {"steps": 60, "log_every": 5, "log_points": 5, "checkpoint_every": 1000, **t}


def _where(**where):
    return [{"name": "G1", "kind": "delayed_generalisation", "statement": "s", "where": where}]


QUADRATIC = dict(task={"kind": "modular", "operation": "x+y", "prime": 11, "train_size_exponent": 5 / 3,
                       "train_size_coefficient": 2.0, "target": "triples"},
                 model={"kind": "quadratic", "width_per_symbol": 2}, sweep={"model.init_scale": [1.0, 0.5]},
                 checks=[{"name": "K", "kind": "smaller_init_shrinks_gap", "statement": "s"}])

# Each path of the old code: fused AdamW, per-run AdamW in place and masked, mini-batches with the l-infinity
# penalty, SGD in place and masked, normalised GD with the penalty, float64 loss, a regression model.
LEGACY_CASES = {
    "adamw_fused_then_masked": dict(optimizer={"lr": 1e-2, "weight_decay": 0.1}, train=_train(early_stop=EARLY_STOP),
                                    sweep={"optimizer.weight_decay": [0.1]},
                                    seeds={"development": [0], "verdict": [1, 2, 3]}),
    "adamw_per_run_masked": dict(sweep={"optimizer.weight_decay": [0.1, 1.0], "optimizer.lr": [1e-2, 3e-3]},
                                 train=_train(early_stop=EARLY_STOP)),
    "adamw_linf_minibatch": dict(optimizer={"lr": 1e-2, "weight_decay": 0.5, "warmup_steps": 3,
                                            "linf_penalty": 0.01, "batch_size": 8}, train=_train()),
    "sgd_per_run_masked": dict(optimizer={"kind": "sgd", "lr": 0.5}, train=_train(early_stop=EARLY_STOP),
                               sweep={"optimizer.weight_decay": [0.01, 0.1]}, checks=_where(weight_decay=0.1)),
    "normalised_gd_linf": dict(optimizer={"kind": "normalized_gd", "lr": 0.1, "linf_penalty": 0.05},
                               sweep={"optimizer.lr": [0.1, 0.03]}, checks=_where(lr=0.1), train=_train()),
    "adamw_float64_loss": dict(optimizer={"lr": 1e-2, "weight_decay": 1.0, "loss_dtype": "float64"},
                               sweep={"optimizer.weight_decay": [1.0]}, checks=_where(weight_decay=1.0)),
    "quadratic_sgd": dict(optimizer={"kind": "sgd", "lr": 0.1}, train=_train(), **QUADRATIC),
}


def _runs(**changes):
    return expand_runs(resolved(tiny_spec(**changes)))


def _datasets(runs):
    return [make_dataset(r.task, r.split_seed) for r in runs]


@pytest.mark.parametrize("case", list(LEGACY_CASES))
def test_every_optimiser_path_matches_the_hand_written_one_bit_for_bit(case):
    runs = _runs(**LEGACY_CASES[case])
    new, old = EnsembleTrainer(runs, _datasets(runs)), LegacyTrainer(runs, _datasets(runs))
    new_result, old_result = new.run(progress=False), old.run(progress=False)
    for name in new.params:
        assert torch.equal(new.params[name], old.params[name]), name
    for name in old_result.metrics:
        np.testing.assert_array_equal(new_result.metrics[name], old_result.metrics[name])
    if case.endswith("masked"):  # the case did exercise the masked path
        assert (new_result.stopped_at >= 0).any()


def _every_transformation():
    try:
        transform_class("no such kind")  # loads the built-in modules
    except ValueError:
        pass
    return sorted(TRANSFORMS)


@pytest.mark.parametrize("kind", _every_transformation())
def test_resume_is_exact_for_every_transformation(tmp_path, monkeypatch, kind):
    """Killed after a checkpoint and resumed, a run with the transformation (at its default settings) logs
    exactly what an uninterrupted one does: its state travels with the checkpoint without the trainer
    knowing what is in it."""
    optimizer = {"lr": 1e-2, "weight_decay": 0.1, "transforms": [{"kind": kind}]}
    runs = _runs(optimizer=optimizer, train=_train(steps=30, checkpoint_every=10),
                 sweep={"optimizer.weight_decay": [0.1]})
    uninterrupted, resumed, trainer, _ = interrupted_and_resumed(runs, tmp_path / "group.pt", monkeypatch)
    assert trainer.optimiser.chain[-1].kind == kind
    for name in uninterrupted.metrics:
        np.testing.assert_array_equal(resumed.metrics[name], uninterrupted.metrics[name])


@pytest.mark.parametrize("base", sorted(OPTIMIZERS.kinds()))
def test_resume_is_exact_for_every_base_optimiser(tmp_path, monkeypatch, base):
    optimizer = {"kind": base, "lr": 1e-2 if base == "adamw" else 0.3, "weight_decay": 0.1, "linf_penalty": 0.01}
    runs = _runs(optimizer=optimizer, train=_train(steps=30, checkpoint_every=10),
                 sweep={"optimizer.weight_decay": [0.1, 1.0]})
    uninterrupted, resumed, _, _ = interrupted_and_resumed(runs, tmp_path / "group.pt", monkeypatch)
    for name in uninterrupted.metrics:
        np.testing.assert_array_equal(resumed.metrics[name], uninterrupted.metrics[name])


def test_a_checkpoint_from_before_the_optimiser_layer_still_resumes(tmp_path, monkeypatch):
    """Checkpoints written by the hand-written AdamW kept its moments at the top level."""
    runs = [r for r in _runs(train=_train(steps=30, checkpoint_every=10)) if r.optimizer.weight_decay == 0.1]
    uninterrupted, resumed, _, _ = interrupted_and_resumed(runs, tmp_path / "group.pt", monkeypatch)
    state = read_sealed(tmp_path / "group.pt.prev", weights_only=False)  # the interrupted job's step-10 file
    optimiser = state.pop("optimiser")
    state["exp_avg"], state["exp_avg_sq"] = optimiser["base"]["exp_avg"], optimiser["base"]["exp_avg_sq"]
    write_sealed(state, tmp_path / "old.pt")
    again = EnsembleTrainer(runs, _datasets(runs), tmp_path / "old.pt").run(progress=False)
    for name in uninterrupted.metrics:
        np.testing.assert_array_equal(again.metrics[name], uninterrupted.metrics[name])


def _sgd_runs(factors=None, lr=0.5):
    optimizer = {"kind": "sgd", "lr": lr, "weight_decay": 0.0}
    if factors is None:
        return _runs(optimizer=optimizer, sweep={"optimizer.weight_decay": [0.0]}, checks=_where(weight_decay=0.0))
    variants = [{"name": f"x{f}", "transforms": [{"kind": "test_scaled_gradient", "factor": f}]} for f in factors]
    return _runs(optimizer=optimizer, sweep={"optimizer": variants}, checks=_where(optimizer=variants[0]["name"]))


def test_a_transformation_from_a_test_file_trains_without_touching_the_trainer():
    """Doubling the gradient under SGD without weight decay is SGD at twice the rate, to the bit (both
    products are exact doublings); runs of two factors share one vmapped group, each with its own factor."""
    runs = _sgd_runs(factors=[1.0, 2.0])
    assert len({r.group_key for r in runs}) == 1
    trainer = EnsembleTrainer(runs, _datasets(runs))
    trainer.run(progress=False)
    assert trainer.optimiser_state["transforms"][0]["count"].tolist() == [runs[0].train.steps] * len(runs)
    for factor, lr in ((1.0, 0.5), (2.0, 1.0)):
        plain_runs = _sgd_runs(lr=lr)
        plain = EnsembleTrainer(plain_runs, _datasets(plain_runs))
        plain.run(progress=False)
        rows = [k for k, r in enumerate(runs) if r.coords["optimizer"] == f"x{factor}"]
        for name in plain.params:
            assert torch.equal(trainer.params[name][rows], plain.params[name])


def test_a_stopped_run_keeps_its_transformation_state():
    runs = _runs(optimizer={"lr": 1e-2, "weight_decay": 0.1, "transforms": [{"kind": "test_scaled_gradient"}]},
                 train=_train(early_stop=EARLY_STOP), sweep={"optimizer.weight_decay": [0.1, 1.0]})
    trainer = EnsembleTrainer(runs, _datasets(runs))
    result = trainer.run(progress=False)
    count = trainer.optimiser_state["transforms"][0]["count"].numpy()
    stopped = result.stopped_at >= 0
    assert stopped.any() and not stopped.all()
    # a run stopped at step s took the updates of steps 0..s; the others all 60
    np.testing.assert_array_equal(count, np.where(stopped, result.stopped_at + 1, 60))


# -- the spec side -------------------------------------------------------------------------------------------
def test_listing_no_transformation_and_the_default_loss_changes_no_run_id():
    plain = _runs()
    explicit = _runs(optimizer={**tiny_spec()["optimizer"], "transforms": [], "loss": "auto"})
    assert [r.run_id for r in plain] == [r.run_id for r in explicit]


def test_a_transformation_written_with_its_defaults_is_the_same_run():
    omitted = _runs(optimizer={"lr": 1e-2, "transforms": [{"kind": "test_scaled_gradient"}]})
    written = _runs(optimizer={"lr": 1e-2, "transforms": [{"kind": "test_scaled_gradient", "factor": 1.0}]})
    assert [r.run_id for r in omitted] == [r.run_id for r in written]


@pytest.mark.parametrize("entry, message", [
    ({"kind": "no_such_idea"}, "unknown transformation kind 'no_such_idea'"),
    ({"kind": "test_scaled_gradient", "facter": 2.0}, "facter"),
    ({"kind": "test_scaled_gradient", "factor": "big"}, "factor"),
])
def test_a_bad_transformation_is_one_clear_error(entry, message):
    with pytest.raises((SpecError, ValueError), match=message):
        _runs(optimizer={"lr": 1e-2, "transforms": [entry]})


def test_an_unknown_loss_is_refused_naming_the_known_ones():
    with pytest.raises((SpecError, ValueError), match="stablemax_cross_entropy"):
        _runs(optimizer={"lr": 1e-2, "loss": "hinge"})


def test_stablemax_cross_entropy_is_the_papers_formula():
    logits = torch.tensor([[2.0, -1.0, 0.0], [-3.0, 0.5, 10.0]], dtype=torch.float64)
    s = torch.where(logits >= 0, logits + 1, 1 / (1 - logits))
    expected = -torch.log(s / s.sum(-1, keepdim=True))[[0, 1], [0, 2]]
    torch.testing.assert_close(stablemax_cross_entropy(logits, torch.tensor([0, 2]), reduction="none"), expected)
    assert torch.isfinite(log_stablemax(torch.tensor([[1e30, -1e30]]))).all()


def test_a_run_trains_with_a_registered_loss():
    runs = _runs(optimizer={"lr": 1e-2, "weight_decay": 0.1, "loss": "stablemax_cross_entropy"})
    result = EnsembleTrainer(runs, _datasets(runs)).run(progress=False)
    losses = result.metrics["train_loss"]
    assert np.isfinite(losses).all() and (losses[:, -1] < losses[:, 0]).all()


def test_the_readme_transformation_example_trains_and_clips(tmp_path):
    """The extending page's example, executed as a user would paste it: under SGD without weight decay, every step is
    at most lr x max_norm long, and the two runs of one group clip at their own max_norm."""
    import re
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "extending.md").read_text()
    block = re.search(r"<!-- transform-example:begin[^>]*-->\s*```python\n(.*?)```", page, re.S).group(1)
    if "clip_by_norm" not in TRANSFORMS:
        exec(compile(block, "docs/extending.md", "exec"), {})
    variants = [{"name": f"clip{c}", "transforms": [{"kind": "clip_by_norm", "max_norm": c}]} for c in (0.01, 0.1)]
    runs = _runs(optimizer={"kind": "sgd", "lr": 0.5, "weight_decay": 0.0}, sweep={"optimizer": variants},
                 checks=_where(optimizer="clip0.01"))
    trainer = EnsembleTrainer(runs, _datasets(runs))
    active = torch.ones(len(runs), dtype=torch.bool)
    grads, _ = trainer._gradients(trainer.train_x, trainer.train_y, active)
    before = {k: v.clone() for k, v in trainer.params.items()}
    trainer._update(grads, 0, active)
    moved = torch.sqrt(sum((trainer.params[k] - before[k]).pow(2).flatten(1).sum(1) for k in before))
    limit = torch.tensor([0.5 * float(r.optimizer.transforms[0].max_norm) for r in runs])
    assert (moved <= limit * (1 + 1e-5)).all() and (moved > 0).all()
