"""Scan kernel_vs_rich regimes on development seeds: what K2 reads (t_fit, scale-free eNTK drift at t_fit, D_ref
and the drift's largest value up to t_gen) with t_gen and final test accuracy, per run, without the workflow.

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

from grokrepro.claims.kernel_vs_rich import DriftParams, drift_around_fit, event_times
from grokrepro.metrics.curves import group_dataset
from grokrepro.spec import expand_runs, load_spec, training_groups
from grokrepro.spec.load import deep_merge
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer

SPEC = Path(__file__).resolve().parents[1] / "specs" / "kernel_vs_rich.yaml"


def main(overrides: dict) -> None:
    torch.set_num_threads(1)
    raw = yaml.safe_load(SPEC.read_text())
    raw["scales"]["default"] = deep_merge(raw["scales"]["default"], overrides.get("default", {}))
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
        # t_fit, t_gen and the drift read exactly as K2 reads them (its default params)
        fits, gens = event_times(curves, DriftParams())
        for k, run in enumerate(group):
            t_fit, t_gen = fits[k], gens[k]
            at_fit, largest = drift_around_fit(curves, k, t_fit, t_gen)
            reference = float(np.nanmax(curves["ntk_drift_ref"].values[k]))
            test, drift = curves["test_acc"].values[k], curves["ntk_drift"].values[k]
            measured = np.isfinite(drift)
            final = test[np.isfinite(test)][-1]
            print(f"{run.coords} seed {run.seed}: t_fit {t_fit:g}, t_gen {t_gen:g}, drift at fit {at_fit:.3f} "
                  f"(D_ref {reference:.3f}, ratio {at_fit / reference:.2f}), largest up to t_gen {largest:.3f}, final test acc {final:.3f} (group {seconds:.0f} s)", flush=True)
            shown = list(zip(steps[measured], drift[measured]))
            print("   drift:", " ".join(f"{s:g}:{v:.2f}" for s, v in shown[::max(1, len(shown) // 25)]))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
