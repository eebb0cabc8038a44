"""Scan kernel_vs_rich regimes on development seeds: what K2 reads (t_fit, scale-free eNTK drift at t_fit and
its largest value after) with t_gen and final test accuracy, per run, without the workflow.

    python studies/kernel_vs_rich_regimes.py '{"seeds": [0, 1, 2], "default": {"train": {"steps": 6000},
        "sweep": [{"task.prime": [23], "model.init_scale": [1.5, 2.0], "optimizer.lr": [3.0, 10.0]}]}}'

The JSON is merged into the spec's `default` scale (and `seeds` replaces the development seeds); verdict seeds
are never touched. Prints one line per run and the drift trajectory beneath it.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from grokrepro.metrics.curves import group_dataset
from grokrepro.spec import expand_runs, load_spec, training_groups
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer

SPEC = Path(__file__).resolve().parents[1] / "specs" / "kernel_vs_rich.yaml"


def _merge(into: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def main(overrides: dict) -> None:
    torch.set_num_threads(1)
    raw = yaml.safe_load(SPEC.read_text())
    _merge(raw["scales"]["default"], overrides.get("default", {}))
    if "seeds" in overrides:
        raw["seeds"]["development"] = overrides["seeds"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "kernel_vs_rich.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        spec = load_spec(path, "default")
    for group in training_groups(expand_runs(spec, "development")).values():
        start = time.time()
        result = EnsembleTrainer(group, [make_dataset(r.task, r.split_seed) for r in group]).run(progress=False)
        curves, seconds = group_dataset(result, group, {}), time.time() - start
        steps = curves["step"].values
        for k, run in enumerate(group):
            train, test = curves["train_acc"].values[k], curves["test_acc"].values[k]
            drift = curves["ntk_drift"].values[k]
            measured = np.isfinite(drift)
            fit, gen = np.nonzero(train >= 0.99)[0], np.nonzero(test >= 0.95)[0]
            t_fit = steps[fit[0]] if len(fit) else np.inf
            t_gen = steps[gen[0]] if len(gen) else np.inf
            after = measured & (steps >= t_fit)
            at_fit = drift[after][0] if after.any() else np.nan
            largest = drift[after].max() if after.any() else np.nan
            final = test[np.isfinite(test)][-1]
            print(f"{run.coords} seed {run.seed}: t_fit {t_fit:g}, t_gen {t_gen:g}, drift at fit {at_fit:.3f}, "
                  f"largest after {largest:.3f}, final test acc {final:.3f} (group {seconds:.0f} s)", flush=True)
            shown = list(zip(steps[measured], drift[measured]))
            print("   drift:", " ".join(f"{s:g}:{v:.2f}" for s, v in shown[::max(1, len(shown) // 25)]))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
