"""Stop rules and base optimisers are registered kinds like the others: a plug-in file beside a spec adds one of
each, the spec names them, and the trainer runs them with no edit to the trainer or the spec layer."""

import textwrap

import numpy as np
import pytest
import torch

from grokrepro.registry import OPTIMIZERS, STOP_RULES
from grokrepro.spec import expand_runs, load_spec
from grokrepro.spec.load import SpecError
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer
from helpers import tiny_spec, write_spec

PLUGIN = textwrap.dedent('''
    from typing import Literal

    from grokrepro.registry import OPTIMIZERS, STOP_RULES, Strict
    from grokrepro.spec.schema import OptimizerSettings
    from grokrepro.train.optim import BaseOptimiser, per_run
    from grokrepro.train.stops import StopRule


    class SignSGDSettings(OptimizerSettings):
        kind: Literal["test_sign_sgd"] = "test_sign_sgd"


    class SignSGD(BaseOptimiser):
        """theta <- theta - lr * sign(g): no state, the step is the sign of the gradient."""

        def __init__(self, optimizer, device):
            pass

        def update(self, grads, state, params, ctx):
            return {k: per_run(ctx.lr, g) * g.sign() for k, g in grads.items()}, state


    class LossBelowSettings(Strict):
        enabled: bool = False
        train_loss: float = 1.0


    class LossBelow(StopRule):
        reads_logged_steps = True

        def after_logged_step(self, step, values, metrics):
            return values["train_loss"] < self.settings.train_loss


    OPTIMIZERS.register("test_sign_sgd", SignSGDSettings, SignSGD)
    STOP_RULES.register("test_loss_below", LossBelowSettings, LossBelow)
''')


def _spec(tmp_path, optimizer=None, train=None):
    (tmp_path / "lab").mkdir(exist_ok=True)
    (tmp_path / "lab" / "kinds.py").write_text(PLUGIN)
    raw = tiny_spec(optimizer=optimizer or {"kind": "test_sign_sgd", "lr": 1e-3},
                    train={"steps": 40, "log_every": 5, "log_points": 0, "checkpoint_every": 1000, **(train or {})},
                    sweep={"optimizer.lr": [1e-3, 3e-2]},
                    checks=[{"name": "G1", "kind": "delayed_generalisation", "statement": "s", "where": {"lr": 3e-2}}])
    raw["plugins"] = ["lab/kinds.py"]
    return load_spec(write_spec(tmp_path, raw))


def _trainer(spec):
    runs = expand_runs(spec)
    return EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs])


def test_a_plug_in_base_optimiser_takes_the_step_it_defines(tmp_path):
    trainer = _trainer(_spec(tmp_path, optimizer={"kind": "test_sign_sgd", "lr": 1e-3, "weight_decay": 0.5,
                                                  "warmup_steps": 3}))
    before = {k: v.clone() for k, v in trainer.params.items()}
    inputs, labels = trainer._batch(0)
    grads, _ = trainer._gradients(inputs, labels, torch.ones(len(trainer.runs), dtype=torch.bool), True)
    trainer._update(grads, 0, torch.ones(len(trainer.runs), dtype=torch.bool), True)
    # the tiny spec's warm-up of 3 steps: the first step's rate is lr / 3; weight decay is decoupled
    lr = trainer.lr / 3
    for name, param in trainer.params.items():
        shape = (-1,) + (1,) * (param.dim() - 1)
        expected = before[name] * (1 - lr * trainer.weight_decay).view(shape) - lr.view(shape) * grads[name].sign()
        torch.testing.assert_close(param, expected, rtol=0, atol=1e-7)


def test_a_plug_in_stop_rule_stops_the_runs_it_says_and_nothing_is_logged_after(tmp_path):
    spec = _spec(tmp_path, train={"test_loss_below": {"enabled": True, "train_loss": 2.3}})
    assert spec.train.model_dump()["test_loss_below"] == {"enabled": True, "train_loss": 2.3}
    result = _trainer(spec).run(progress=False)
    stopped = result.stopped_at
    assert (stopped > 0).any(), "the faster runs drop below the loss and stop"
    for run, at in enumerate(stopped):
        loss = result.metrics["train_loss"][run]
        if at < 0:
            assert (loss[~np.isnan(loss)] >= 2.3).all()
            continue
        column = list(result.steps).index(at)
        assert loss[column] < 2.3 and (loss[:column] >= 2.3).all()  # the first logged step below it
        assert np.isnan(loss[column + 1:]).all()  # a stopped run logs nothing more


def test_a_rule_at_its_defaults_changes_no_run_id_while_a_written_one_does(tmp_path):
    plain = [r.run_id for r in expand_runs(_spec(tmp_path))]
    (tmp_path / "other").mkdir()
    off = [r.run_id for r in expand_runs(_spec(tmp_path / "other"))]
    assert plain == off
    written = [r.run_id for r in expand_runs(_spec(tmp_path, train={"test_loss_below": {"enabled": True}}))]
    assert set(written).isdisjoint(plain)


@pytest.mark.parametrize("change, message", [
    ({"train": {"test_loss_below": {"train_loss": "low"}}}, r"field 'train\.test_loss_below\.train_loss' = 'low'"),
    ({"train": {"early_stop": {"patience": 0}}}, r"field 'train\.early_stop\.patience' = 0"),
    ({"optimizer": {"kind": "test_sgn", "lr": 0.1}}, r"field 'optimizer' .*'test_sign_sgd'"),
    ({"optimizer": {"kind": "test_sign_sgd", "lr": 0.1, "momentum": 0.9}},
     r"field 'optimizer\.momentum' = 0\.9: momentum is a setting of sgd, not of test_sign_sgd"),
])
def test_a_bad_stop_rule_or_optimiser_is_refused_naming_the_field(tmp_path, change, message):
    with pytest.raises(SpecError, match=message):
        _spec(tmp_path, **change)


def test_the_library_rules_and_optimisers_are_registered_kinds():
    assert {"early_stop", "early_abort"} <= set(STOP_RULES.kinds())
    assert {"adamw", "sgd", "normalized_gd"} <= set(OPTIMIZERS.kinds())
