import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from grokrepro.models import ModelShape, build_model
from grokrepro.spec import expand_runs
from grokrepro.tasks import make_dataset
from grokrepro.train import NOT_REACHED, EnsembleTrainer
from helpers import REGRESSION_CHECKS, interrupted_and_resumed, resolved, tiny_spec


def tiny_runs(**changes):
    raw = tiny_spec(**changes)
    return expand_runs(resolved(raw))


def datasets_for(runs):
    return [make_dataset(r.task, r.split_seed) for r in runs]


def plain_loop(run, dataset):
    """A reference: one run, torch.optim.AdamW, LambdaLR warm-up, full batch."""
    torch.manual_seed(run.seed)
    model = build_model(run.model, ModelShape.of(dataset))
    opt = run.optimizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=opt.lr, betas=opt.betas, eps=opt.eps,
                                  weight_decay=opt.weight_decay)
    warmup = opt.warmup_steps
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup))
    x = torch.as_tensor(dataset.inputs[dataset.train_index])
    y = torch.as_tensor(dataset.labels[dataset.train_index])
    losses = []
    for _ in range(run.train.steps):
        loss = F.cross_entropy(model(x), y)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model, np.array(losses)


@pytest.mark.parametrize("group_size", [1, 3])
def test_shared_rate_groups_match_plain_single_runs(group_size):
    """Groups whose runs share learning rate and weight decay take the fused AdamW path; a group of one also
    skips vmap and calls a module viewing the stacked parameters. Both must train as torch.optim.AdamW does."""
    runs = tiny_runs(sweep={"task.train_fraction": [0.5], "optimizer.weight_decay": [0.1]},
                     seeds={"development": [0], "verdict": [5, 6, 7]})
    runs = runs[:group_size]
    assert len({(r.optimizer.lr, r.optimizer.weight_decay) for r in runs}) == 1
    trainer = EnsembleTrainer(runs, datasets_for(runs))
    result = trainer.run(progress=False)
    logged = [s for s in result.steps if s < runs[0].train.steps]
    for k, (run, dataset) in enumerate(zip(runs, datasets_for(runs))):
        model, losses = plain_loop(run, dataset)
        for name, parameter in model.named_parameters():
            torch.testing.assert_close(trainer.params[name][k], parameter.detach(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(result.metrics["train_loss"][k, : len(logged)], losses[logged], rtol=1e-5)


def test_vmapped_group_matches_plain_single_runs():
    runs = tiny_runs(sweep={"optimizer.weight_decay": [0.1, 1.0], "optimizer.lr": [1e-2, 3e-3]})
    runs = [r for r in runs if r.task.train_fraction == 0.5][:4]
    trainer = EnsembleTrainer(runs, datasets_for(runs))
    result = trainer.run(progress=False)
    steps = list(result.steps)
    for k, (run, dataset) in enumerate(zip(runs, datasets_for(runs))):
        model, losses = plain_loop(run, dataset)
        for name, parameter in model.named_parameters():
            torch.testing.assert_close(trainer.params[name][k], parameter.detach(), rtol=1e-4, atol=1e-5)
        logged = [s for s in steps if s < run.train.steps]
        np.testing.assert_allclose(result.metrics["train_loss"][k, : len(logged)], losses[logged], rtol=1e-5)


@pytest.mark.parametrize("batch_size", ["full", 8])
def test_resume_after_interruption_is_exact(tmp_path, monkeypatch, batch_size):
    optimizer = {**tiny_spec()["optimizer"], "batch_size": batch_size}
    runs = tiny_runs(optimizer=optimizer)
    runs = [r for r in runs if r.optimizer.weight_decay == 0.1]
    # killed right after the checkpoint at step 20
    uninterrupted, resumed, _, saves = interrupted_and_resumed(runs, tmp_path / "group.pt", monkeypatch)
    assert saves == [10, 20]
    for name in uninterrupted.metrics:
        np.testing.assert_array_equal(resumed.metrics[name], uninterrupted.metrics[name])


def test_corrupt_checkpoint_falls_back_to_previous(tmp_path, capsys):
    runs = [r for r in tiny_runs() if r.optimizer.weight_decay == 0.1]
    checkpoint = tmp_path / "group.pt"
    reference = EnsembleTrainer(runs, datasets_for(runs), checkpoint).run(progress=False)
    checkpoint.write_bytes(b"torn write")
    again = EnsembleTrainer(runs, datasets_for(runs), checkpoint).run(progress=False)
    assert "unreadable" in capsys.readouterr().err
    np.testing.assert_array_equal(again.metrics["test_acc"], reference.metrics["test_acc"])


def test_nan_marks_only_that_run_diverged():
    runs = [r for r in tiny_runs() if r.optimizer.weight_decay == 0.1]
    trainer = EnsembleTrainer(runs, datasets_for(runs))
    healthy = EnsembleTrainer(runs, datasets_for(runs)).run(progress=False)
    first = next(iter(trainer.params))
    trainer.params[first][0] = float("nan")
    result = trainer.run(progress=False)
    assert result.diverged_at[0] == 0 and result.diverged_at[1] == NOT_REACHED
    assert np.isnan(result.metrics["train_loss"][0, 1:]).all()
    np.testing.assert_allclose(result.metrics["train_loss"][1], healthy.metrics["train_loss"][1], rtol=1e-6)


def test_early_stop_is_recorded():
    threshold, patience = 1e-6, 10  # any correct test answer; deterministic given the seeds
    train = {**tiny_spec()["train"], "early_stop": {"enabled": True, "test_acc": threshold, "patience": patience}}
    runs = [r for r in tiny_runs(train=train) if r.optimizer.weight_decay == 0.1]
    result = EnsembleTrainer(runs, datasets_for(runs)).run(progress=False)
    assert (result.stopped_at != NOT_REACHED).any()
    for k, stop in enumerate(result.stopped_at):
        test_acc = result.metrics["test_acc"][k]
        if stop == NOT_REACHED:
            assert not np.isnan(test_acc).any()
            continue
        held = (result.steps >= stop - patience) & (result.steps <= stop)
        assert (test_acc[held] >= threshold).all()
        assert np.isnan(test_acc[result.steps > stop]).all()
        assert not np.isnan(test_acc[result.steps <= stop]).any()


def test_runs_that_keep_training_are_unaffected_by_others_stopping():
    threshold, patience = 1e-6, 10
    train = {**tiny_spec()["train"], "early_stop": {"enabled": True, "test_acc": threshold, "patience": patience}}
    runs = [r for r in tiny_runs(train=train) if r.optimizer.weight_decay == 0.1]
    trainer = EnsembleTrainer(runs, datasets_for(runs))
    stopping = trainer.run(progress=False)
    free = [r for r in tiny_runs() if r.optimizer.weight_decay == 0.1]  # the same runs, no early stop
    unstopped = EnsembleTrainer(free, datasets_for(free))
    everything = unstopped.run(progress=False)
    stopped = stopping.stopped_at != NOT_REACHED
    assert stopped.any() and not stopped.all()  # one run stops, the other goes on
    for k in range(len(runs)):
        logged = ~np.isnan(stopping.metrics["train_loss"][k])
        np.testing.assert_allclose(stopping.metrics["train_loss"][k][logged],
                                   everything.metrics["train_loss"][k][logged], rtol=1e-6)
        if stopped[k]:  # frozen since its stop, so behind the run that went on
            assert not torch.equal(trainer.params[next(iter(trainer.params))][k],
                                   unstopped.params[next(iter(unstopped.params))][k])


@pytest.mark.parametrize("kind", [{"kind": "nanda_transformer", "d_model": 8, "n_heads": 2, "d_mlp": 16},
                                  {"kind": "power_transformer", "d_model": 8, "n_heads": 2, "n_layers": 2}])
def test_transformers_train_under_vmap(kind):
    train = {**tiny_spec()["train"], "steps": 5}
    runs = [r for r in tiny_runs(model=kind, train=train) if r.optimizer.weight_decay == 0.1]
    result = EnsembleTrainer(runs, datasets_for(runs)).run(progress=False)
    assert np.isfinite(result.metrics["train_loss"][:, -1]).all()
    assert result.metrics["train_loss"][0, 0] == pytest.approx(math.log(11), rel=0.3)


def test_lmn_probe_is_logged_at_its_steps():
    train = {**tiny_spec()["train"], "probes": [{"kind": "lmn", "every": 10, "samples": 12}]}
    model = {"kind": "mlp", "embed_dim": 8, "hidden": 16, "hidden_layers": 2, "activation": "silu"}
    runs = [r for r in tiny_runs(train=train, model=model) if r.optimizer.weight_decay == 0.1]
    result = EnsembleTrainer(runs, datasets_for(runs)).run(progress=False)
    due = result.steps % 10 == 0
    assert np.isfinite(result.metrics["lmn"][:, due]).all() and (result.metrics["lmn"][:, due] >= 1).all()
    assert np.isnan(result.metrics["lmn"][:, ~due]).all()


def test_a_regression_group_with_early_stop_is_refused_clearly():
    from dataclasses import replace

    raw = tiny_spec(task={"kind": "gaussian_regression", "dim": 5, "n_train": 20, "n_test": 30},
                    model={"kind": "lazy_quadratic", "width": 8}, sweep={"model.alpha": [1.0]},
                    checks=REGRESSION_CHECKS)
    runs = expand_runs(resolved(raw))
    rules = runs[0].train.stop_rules
    train = runs[0].train.model_copy(update={"stop_rules": {
        **rules, "early_stop": rules["early_stop"].model_copy(update={"enabled": True})}})
    runs = [replace(r, train=train) for r in runs]  # past the validator, as a direct caller could
    with pytest.raises(ValueError, match="regression task"):
        EnsembleTrainer(runs, datasets_for(runs)).run(progress=False)
