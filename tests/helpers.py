"""Small builders shared by the tests: tiny specs and synthetic curves."""

from __future__ import annotations

import copy

import numpy as np
import xarray as xr
import yaml

from grokrepro.spec.load import resolve
from grokrepro.spec.schema import SpecFile

TINY = {
    "claim": "tiny",
    "paper": "test",
    "statement": "test",
    "task": {"kind": "modular", "operation": "x+y", "prime": 11, "train_fraction": 0.5},
    "model": {"kind": "mlp", "embed_dim": 8, "hidden": 16},
    "optimizer": {"lr": 1e-2, "weight_decay": 0.5, "warmup_steps": 3},
    "train": {"steps": 30, "log_every": 5, "log_points": 5, "checkpoint_every": 10},
    "sweep": {"optimizer.weight_decay": [0.1, 1.0]},
    "seeds": {"development": [0], "verdict": [1, 2]},
    "checks": [{"name": "G1", "kind": "delayed_generalisation", "statement": "s",
                "where": {"weight_decay": 0.1}}],
    "scales": {"smoke": {}, "default": {}, "paper": {}},
}


# A check a regression task can be judged by (the tiny spec's own reads accuracies, which regression lacks).
REGRESSION_CHECKS = [{"name": "L1", "kind": "final_value_beyond", "statement": "the test loss ends low",
                      "params": {"metric": "test_loss", "bound": 1.0, "side": "below"}}]


def tiny_spec(**overrides):
    raw = copy.deepcopy(TINY)
    for key, value in overrides.items():
        raw[key] = value
    return raw


def write_spec(tmp_path, raw, name="tiny.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def resolved(raw, scale="default"):
    return resolve(SpecFile.model_validate(raw), scale, "tiny.yaml")


def spec_with(check, sweep=None, **sections):
    """The tiny spec with one check N2 (and another sweep or sections)."""
    raw = tiny_spec(checks=[{"name": "N2", "statement": "s", **check}], **sections)
    if sweep is not None:
        raw["sweep"] = sweep
    return raw


def refused(tmp_path, raw) -> str:
    """The spec validator's message refusing `raw`."""
    import pytest

    from grokrepro.spec import SpecError, load_spec

    with pytest.raises(SpecError) as error:
        load_spec(write_spec(tmp_path, raw))
    return str(error.value)


def synthetic_curves(t_fit, t_gen, fractions, seeds, steps=np.arange(0, 10001, 10), chance=0.02):
    """Step-function curves: train acc jumps to 1 at t_fit, test acc to 1 at t_gen (inf = never)."""
    rows_train, rows_test, fraction_coord, seed_coord = [], [], [], []
    for fraction, fit, gen in zip(fractions, t_fit, t_gen):
        for k, seed in enumerate(seeds):
            fit_k = fit[k] if np.ndim(fit) else fit
            gen_k = gen[k] if np.ndim(gen) else gen
            rows_train.append(np.where(steps >= fit_k, 1.0, chance))
            rows_test.append(np.where(steps >= gen_k, 1.0, chance))
            fraction_coord.append(fraction)
            seed_coord.append(seed)
    n = len(rows_train)
    zeros = np.zeros((n, len(steps)))
    return xr.Dataset(
        {"train_acc": (("run", "step"), np.array(rows_train)), "test_acc": (("run", "step"), np.array(rows_test)),
         "train_loss": (("run", "step"), zeros), "test_loss": (("run", "step"), zeros),
         "diverged_at": ("run", np.full(n, -1)), "stopped_at": ("run", np.full(n, -1))},
        coords={"run": [f"r{i}" for i in range(n)], "step": steps, "seed": ("run", seed_coord),
                "train_fraction": ("run", fraction_coord), "budget_steps": ("run", np.full(n, steps[-1])),
                # what the shipped grokking spec's checks select on besides the fraction
                "weight_decay": ("run", np.full(n, 1.0)), "train": ("run", np.full(n, "full"))},
    )


def killed_after_second_checkpoint(trainer, monkeypatch) -> list[int]:
    """Run `trainer` (one with a checkpoint path) until just after its second checkpoint, then kill it as a
    KeyboardInterrupt would; returns the steps it checkpointed."""
    import pytest

    import grokrepro.train.ensemble as ensemble

    real_save, saves = ensemble.save_atomic, []

    def save_then_die(state, path):
        real_save(state, path)
        saves.append(state["step"])
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(ensemble, "save_atomic", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        trainer.run(progress=False)
    monkeypatch.setattr(ensemble, "save_atomic", real_save)
    return saves


def interrupted_and_resumed(runs, checkpoint, monkeypatch):
    """Train `runs` uninterrupted; then again, killed right after the second checkpoint and resumed from it.
    Returns the uninterrupted result, the resumed result, the resumed trainer and the steps checkpointed
    before the kill."""
    from grokrepro.tasks import make_dataset
    from grokrepro.train import EnsembleTrainer

    def trainer(path=None):
        return EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs], path)

    uninterrupted = trainer().run(progress=False)
    saves = killed_after_second_checkpoint(trainer(checkpoint), monkeypatch)
    resumed_trainer = trainer(checkpoint)
    return uninterrupted, resumed_trainer.run(progress=False), resumed_trainer, saves
