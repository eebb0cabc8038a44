"""Trainer speed per model family at its default-scale configuration: against a plain per-run PyTorch loop,
against the machine's measured matmul peak, and 8 runs vmapped in one process against 8 run one after another.

    python -m benchmarks.trainer_speed [--specs specs/grokking.yaml specs/lmn_compression.yaml:1 ...] [--steps 200]

Training steps only (no evaluation) on every side, so the ratios compare like with like. Utilisation is
stated in nominal model FLOPs (forward x3 for forward plus backward, the dense layers as a plain
implementation computes them). grokrepro's MLP computes its first layer as a table over the vocabulary, so it
executes fewer FLOPs than the nominal count, and its nominal utilisation can pass what the hardware could do
on the plain computation; the table says so rather than hiding it.
Prints one JSON object and a short table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch.nn import functional as F

from benchmarks.common import matmul_peak, median_rates, train_for
from grokrepro.models import ModelShape, build_model
from grokrepro.models.networks import EmbeddingMLP
from grokrepro.provenance import host
from grokrepro.spec import expand_runs, load_spec, training_groups
from grokrepro.tasks import make_dataset

# spec[:group]: the first run of that training group (default 0). One matmul-bound model (p = 59, 1,369 pairs),
# two middle-sized ones (p = 31; XOR on 5 bits) and one small one (D = 40, N = 100), where per-step overhead
# dominates.
CONFIGS = ["specs/grokking.yaml", "specs/lmn_compression.yaml", "specs/lmn_compression.yaml:1",
           "specs/lazy_to_rich.yaml"]


def nominal_flops_per_example(model) -> int:
    """Forward FLOPs of the dense layers computed the plain way: every layer on every example."""
    return 2 * sum(module.weight.numel() for module in model.modules()
                   if isinstance(module, torch.nn.Linear) or type(module).__name__ == "LazyQuadratic")


def plain_forward(model, x):
    """The straightforward computation: an embedding-MLP's first layer as a dense layer on [e_a; e_b]."""
    if isinstance(model, EmbeddingMLP):
        return model.from_first_hidden(model.activation(model.hidden[0](model.embed(x).flatten(-2))))
    return model(x)


def plain_loop(run, dataset, steps: int) -> None:
    """The loop a researcher would write: the plain module, torch.optim's optimiser, full batch."""
    torch.manual_seed(run.seed)
    model = build_model(run.model, ModelShape.of(dataset))
    opt = run.optimizer
    if opt.kind not in ("sgd", "adamw"):
        raise SystemExit(f"no plain loop written for optimizer {opt.kind!r}; leave this spec out")
    if opt.kind == "sgd":
        lr = opt.lr * getattr(run.model, "alpha", 1.0) ** opt.lr_alpha_power
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=opt.weight_decay)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay)
    x = torch.as_tensor(dataset.inputs[dataset.train_index])
    y = torch.as_tensor(dataset.labels[dataset.train_index])
    for _ in range(steps):
        outputs = plain_forward(model, x)
        loss = F.mse_loss(outputs, y) if dataset.is_regression else F.cross_entropy(outputs, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def measure(config: str, scale: str, steps: int, repeats: int, ensemble: int, peak: float) -> dict:
    spec_path, _, group = config.partition(":")
    groups = training_groups(expand_runs(load_spec(spec_path, scale), "development"))
    first = list(groups.values())[int(group or 0)][0]
    seeds = [first.__class__(**{**first.__dict__, "seed": first.seed + k}) for k in range(ensemble)]
    dataset = make_dataset(first.task, first.split_seed)
    n_train = len(dataset.train_index)
    model = build_model(first.model, ModelShape.of(dataset))
    flops_per_step = 3 * nominal_flops_per_example(model) * n_train
    rates = median_rates({"plain": (lambda: plain_loop(first, dataset, steps), steps),
                          "single": (lambda: train_for([first], steps), steps),
                          "batched": (lambda: train_for(seeds, steps), steps * ensemble)}, repeats)
    plain, single, batched = rates["plain"], rates["single"], rates["batched"]
    return {
        "spec": config, "model": first.model.model_dump(), "task": first.task.model_dump(),
        "train_examples": n_train, "nominal_mflop_per_step": flops_per_step / 1e6,
        "plain_loop_steps_per_s": plain, "grokrepro_steps_per_s": single, "grokrepro_vs_plain": single / plain,
        "plain_mfu": plain * flops_per_step / peak, "grokrepro_nominal_mfu": single * flops_per_step / peak,
        f"vmapped_{ensemble}_run_steps_per_s": batched,
        f"vmapped_{ensemble}_vs_sequential_grokrepro": batched / single,
        f"vmapped_{ensemble}_vs_sequential_plain": batched / plain,
        "vmapped_nominal_mfu": batched * flops_per_step / peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--specs", nargs="+", default=CONFIGS, help="spec paths, each optionally :group")
    parser.add_argument("--scale", default="default")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ensemble", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the JSON here (docs/performance.md's table reads "
                                                 "benchmarks/results/trainer_speed.json)")
    args = parser.parse_args()

    peak = matmul_peak()
    results = [measure(path, args.scale, args.steps, args.repeats, args.ensemble, peak) for path in args.specs]
    report = {"matmul_peak_gflops": peak / 1e9, "threads": torch.get_num_threads(), "ensemble": args.ensemble,
              "steps_timed": args.steps, "repeats": args.repeats, "host": host(), "results": results}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    n = args.ensemble
    print(f"\nmatmul peak {peak / 1e9:.0f} GFLOP/s, {torch.get_num_threads()} threads; steps/s (nominal MFU)")
    print(f"{'config':34}{'plain loop':>16}{'grokrepro':>16}{'ratio':>7}{f'{n} vmapped':>16}"
          f"{'vs seq.':>8}{'vs plain':>9}")
    for r in results:
        name = f"{r['spec'].split('/')[-1].replace('.yaml', '')} ({r['task']['kind']}, {r['train_examples']} ex.)"
        print(f"{name:34}{r['plain_loop_steps_per_s']:9.1f} ({r['plain_mfu']:4.0%})"
              f"{r['grokrepro_steps_per_s']:9.1f} ({r['grokrepro_nominal_mfu']:4.0%})"
              f"{r['grokrepro_vs_plain']:6.2f}x"
              f"{r[f'vmapped_{n}_run_steps_per_s']:9.1f} ({r['vmapped_nominal_mfu']:4.0%})"
              f"{r[f'vmapped_{n}_vs_sequential_grokrepro']:7.2f}x{r[f'vmapped_{n}_vs_sequential_plain']:8.2f}x")


if __name__ == "__main__":
    main()
