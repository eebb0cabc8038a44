"""Trainer speed against a plain per-run PyTorch loop and against this machine's measured matmul peak.

    python benchmarks/trainer_speed.py [--spec specs/grokking.yaml] [--scale default] [--steps 300]

Prints one JSON object and a short table. Training-step work only (no evaluation) on both sides, so the
ratio compares like with like. FLOPs count the dense layers: forward ×3 for forward plus backward.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.nn import functional as F

from grokrepro.models import build_model, matmul_flops_per_example
from grokrepro.spec import expand_runs, load_spec
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer


def matmul_peak(size: int = 4096, repeats: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - began)
    return 2 * size**3 / best


def plain_loop_steps_per_second(run, dataset, steps: int) -> float:
    torch.manual_seed(run.seed)
    model = build_model(run.model, dataset.n_symbols)
    optimizer = torch.optim.AdamW(model.parameters(), lr=run.optimizer.lr, betas=run.optimizer.betas,
                                  weight_decay=run.optimizer.weight_decay)
    x = torch.as_tensor(dataset.inputs[dataset.train_index])
    y = torch.as_tensor(dataset.labels[dataset.train_index])

    def step():
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(5):
        step()
    began = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - began)


def trainer_steps_per_second(runs, steps: int) -> float:
    runs = [r.__class__(**{**r.__dict__, "train": r.train.model_copy(
        update={"steps": steps, "log_every": steps, "log_points": 0, "early_stop": r.train.early_stop.model_copy(
            update={"enabled": False})})}) for r in runs]
    trainer = EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs])
    return trainer.run(progress=False).steps_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", default="specs/grokking.yaml")
    parser.add_argument("--scale", default="default")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--ensemble", type=int, default=8)
    args = parser.parse_args()

    spec = load_spec(args.spec, args.scale)
    runs = expand_runs(spec, "development")
    first = runs[0]
    same_shape = [r for r in runs if r.group_key == first.group_key]
    ensemble = [same_shape[k % len(same_shape)] for k in range(args.ensemble)]
    dataset = make_dataset(first.task, first.split_seed)
    n_train = len(dataset.train_index)
    flops_per_step = 3 * matmul_flops_per_example(build_model(first.model, dataset.n_symbols)) * n_train

    peak = matmul_peak()
    plain = plain_loop_steps_per_second(first, dataset, args.steps)
    single = trainer_steps_per_second([first], args.steps)
    batched = trainer_steps_per_second(ensemble, args.steps)
    report = {
        "config": {"spec": args.spec, "scale": args.scale, "model": first.model.model_dump(),
                   "task": first.task.model_dump(), "train_examples": n_train,
                   "threads": torch.get_num_threads()},
        "matmul_peak_gflops": peak / 1e9,
        "plain_loop_steps_per_s": plain,
        "grokrepro_single_steps_per_s": single,
        "grokrepro_vs_plain": single / plain,
        "plain_mfu": plain * flops_per_step / peak,
        "grokrepro_single_mfu": single * flops_per_step / peak,
        f"grokrepro_{len(ensemble)}_runs_vmapped_run_steps_per_s": batched * len(ensemble),
        f"vmapped_{len(ensemble)}_vs_sequential_plain": batched * len(ensemble) / plain,
        "vmapped_mfu": batched * len(ensemble) * flops_per_step / peak,
    }
    print(json.dumps(report, indent=2))
    print(f"\nmatmul peak {peak / 1e9:.0f} GFLOP/s")
    print(f"{'':34}{'steps/s':>10}{'MFU':>8}")
    print(f"{'plain PyTorch loop, 1 run':34}{plain:10.1f}{report['plain_mfu']:8.0%}")
    print(f"{'grokrepro, 1 run':34}{single:10.1f}{report['grokrepro_single_mfu']:8.0%}")
    print(f"{f'grokrepro, {len(ensemble)} runs vmapped (run-steps)':34}{batched * len(ensemble):10.1f}"
          f"{report['vmapped_mfu']:8.0%}")
    print(f"ratio grokrepro/plain {report['grokrepro_vs_plain']:.2f}x; "
          f"{len(ensemble)} vmapped vs sequential plain {report[f'vmapped_{len(ensemble)}_vs_sequential_plain']:.2f}x")


if __name__ == "__main__":
    main()
