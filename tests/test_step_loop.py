"""The training loop that does not wait on the host: the same bits as the loop it replaced (tests/legacy_loop.py)
for every optimiser path and transformation, no host sync in any step between two sync steps, and Grokfast-MA's
ring buffer equal to the shifted queue it replaced at a tenth of its ops or fewer."""

import numpy as np
import pytest
import torch

from benchmarks.step_profile import HOST_SYNCS, OpCounter
from grokrepro.spec import expand_runs
from grokrepro.tasks import make_dataset
from grokrepro.train import NOT_REACHED, EnsembleTrainer
from grokrepro.train.optim import StepContext, transform_class
from helpers import resolved, tiny_spec
from legacy_loop import LegacyLoopTrainer

EARLY_STOP = {"enabled": True, "test_acc": 1e-6, "patience": 10}  # stops some runs early: the masked path


def _train(**t):
    return {"steps": 60, "log_every": 5, "log_points": 5, "checkpoint_every": 25, **t}


def _where(**where):
    return [{"name": "G1", "kind": "delayed_generalisation", "statement": "s", "where": where}]


def _ma(kind="grokfast_ma", **settings):
    return {"kind": kind, "window": 4, "lamb": 5.0, **settings}


# Each path of the optimiser layer, with early stops (the masked path), mini-batches across epochs, per-run rates,
# each transformation, and a run that diverges between two logged steps.
CASES = {
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
    "grokfast_ema_masked": dict(optimizer={"lr": 1e-2, "weight_decay": 0.1, "transforms": [{"kind": "grokfast_ema"}]},
                                train=_train(early_stop=EARLY_STOP), sweep={"optimizer.weight_decay": [0.1, 1.0]}),
    "grokfast_ma_minibatch_stops": dict(
        optimizer={"lr": 1e-2, "weight_decay": 0.1, "batch_size": 8, "transforms": [_ma()]},
        train=_train(early_stop=EARLY_STOP), sweep={"optimizer.weight_decay": [0.1]},
        seeds={"development": [0], "verdict": [1, 2, 3]}),
    "orthogonal_gradient": dict(optimizer={"lr": 1e-2, "weight_decay": 0.1,
                                           "transforms": [{"kind": "orthogonal_gradient"}]}, train=_train()),
    "a_run_diverges": dict(optimizer={"kind": "sgd", "lr": 0.5}, sweep={"optimizer.weight_decay": [0.01, 0.1]},
                           checks=_where(weight_decay=0.1), train=_train()),
}


def _runs(**changes):
    return expand_runs(resolved(tiny_spec(**changes)))


def _datasets(runs):
    return [make_dataset(r.task, r.split_seed) for r in runs]


def _poison_after(trainer, step=6, run=1):
    """Run `run`'s parameters turn NaN after the update of `step`: its loss is first non-finite at step + 1,
    which is neither logged nor a checkpoint step."""
    real_update = trainer._update

    def update(grads, at, *args, **kwargs):
        real_update(grads, at, *args, **kwargs)
        if at == step:
            with torch.no_grad():
                next(iter(trainer.params.values()))[run].fill_(float("nan"))  # no host-made tensor

    trainer._update = update


def _assert_same_training(new, new_result, old, old_result, params_of=None):
    for name in old_result.metrics:
        np.testing.assert_array_equal(new_result.metrics[name], old_result.metrics[name], err_msg=name)
    np.testing.assert_array_equal(new_result.stopped_at, old_result.stopped_at)
    np.testing.assert_array_equal(new_result.diverged_at, old_result.diverged_at)
    rows = slice(None) if params_of is None else params_of
    for name in new.params:
        assert torch.equal(new.params[name][rows], old.params[name][rows]), name


@pytest.mark.parametrize("case", list(CASES))
def test_the_loop_trains_the_bits_of_the_loop_it_replaced(case):
    runs = _runs(**CASES[case])
    new, old = EnsembleTrainer(runs, _datasets(runs)), LegacyLoopTrainer(runs, _datasets(runs))
    if case == "a_run_diverges":
        _poison_after(new), _poison_after(old)
    new_result, old_result = new.run(progress=False), old.run(progress=False)
    diverged = new_result.diverged_at != NOT_REACHED
    # A run that diverges between two sync steps moves on alone until the next one (nothing of it is logged
    # after it diverged): every other run's parameters are the same bits.
    _assert_same_training(new, new_result, old, old_result, params_of=torch.as_tensor(~diverged))
    if case.endswith("masked"):
        assert (new_result.stopped_at >= 0).any() and not (new_result.stopped_at >= 0).all()
    if case == "a_run_diverges":  # between two sync steps, and found at the step it did
        assert new_result.diverged_at.tolist() == [NOT_REACHED, 7, NOT_REACHED, NOT_REACHED]
        assert not new._sync_step(7)


def test_grokfast_ma_trains_as_the_shifted_queue_did_in_the_trainer():
    """The ring buffer against the queue it replaced, with runs stopping early (the masked path) and per-run λ."""
    def runs(kind):
        variants = [{"name": f"l{lamb}", "transforms": [_ma(kind, lamb=lamb)]} for lamb in (5.0, 0.5)]
        return _runs(optimizer={"lr": 1e-2, "weight_decay": 0.1}, sweep={"optimizer": variants},
                     train=_train(early_stop=EARLY_STOP), checks=_where(optimizer="l5.0"))

    ring_runs, queue_runs = runs("grokfast_ma"), runs("legacy_grokfast_ma")
    ring, queue = EnsembleTrainer(ring_runs, _datasets(ring_runs)), EnsembleTrainer(queue_runs, _datasets(queue_runs))
    ring_result, queue_result = ring.run(progress=False), queue.run(progress=False)
    assert (ring_result.stopped_at >= 0).any() and not (ring_result.stopped_at >= 0).all()
    _assert_same_training(ring, ring_result, queue, queue_result)


def _ops_of_one_update(kind, window=100, tensors=30, runs=3):
    cls = transform_class(kind)
    transformation = cls([cls.Settings(kind=kind, window=window)] * runs, torch.device("cpu"))
    params = {f"p{i}": torch.zeros(runs, 4, 5) for i in range(tensors)}
    state = transformation.init(params)
    grads = {k: torch.randn_like(v) for k, v in params.items()}
    transformation.update(grads, state, params, StepContext(step=0, lr=torch.ones(runs)))
    with OpCounter() as counter:
        transformation.update(grads, state, params, StepContext(step=1, lr=torch.ones(runs)))
    return counter.total


def test_grokfast_ma_takes_a_tenth_of_the_ops_it_did_or_fewer():
    ring, queue = _ops_of_one_update("grokfast_ma"), _ops_of_one_update("legacy_grokfast_ma")
    assert queue > 3000 and ring * 10 <= queue, (ring, queue)


def _host_syncs_per_step(trainer):
    """Host syncs counted in each step's window (from its batch to the next step's), over a whole run."""
    counter, per_step, current = OpCounter(), {}, {"step": None, "before": 0}
    real_batch = trainer._batch

    def batch(step):
        syncs = sum(counter.host_syncs.values())
        if current["step"] is not None:
            per_step[current["step"]] = syncs - current["before"]
        current.update(step=step, before=syncs)
        return real_batch(step)

    trainer._batch = batch
    with counter:
        result = trainer.run(progress=False)
    del trainer._batch
    return per_step, result


@pytest.mark.parametrize("case", ["adamw_fused_then_masked", "adamw_per_run_masked", "grokfast_ma_minibatch_stops",
                                  "normalised_gd_linf", "a_run_diverges"])
def test_no_step_between_two_sync_steps_waits_on_the_host(case):
    """Only logged steps, checkpoint steps and the early-abort window read the device; the steps between them
    (early stops, epochs of mini-batches, a divergence included) never do."""
    runs = _runs(**CASES[case])
    trainer = EnsembleTrainer(runs, _datasets(runs))
    if case == "a_run_diverges":
        _poison_after(trainer)
    per_step, result = _host_syncs_per_step(trainer)
    between = [s for s in per_step if not trainer._sync_step(s) and not trainer._sync_step(s + 1)]
    assert between
    assert {s: per_step[s] for s in between if per_step[s]} == {}
    assert any(per_step[s] for s in per_step if trainer._sync_step(s))  # the counter does see syncs


def test_the_legacy_loop_did_wait_on_the_host_at_every_step():
    """The counter above is not blind: the loop it replaced read a loss at every step."""
    runs = _runs(**CASES["adamw_per_run_masked"])
    trainer = LegacyLoopTrainer(runs, _datasets(runs))
    per_step, _ = _host_syncs_per_step(trainer)
    assert all(per_step[s] >= 1 for s in per_step)
    assert set(HOST_SYNCS) >= {"_local_scalar_dense", "nonzero", "lift_fresh"}
