"""Trainer speed per model family at its default-scale configuration: against a plain per-run PyTorch loop,
against the machine's measured matmul peak, and 8 runs vmapped in one process against 8 run one after another.

    python -m benchmarks.trainer_speed [--specs specs/grokking.yaml ...] [--scale default] [--steps 200]

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

import torch
from torch.nn import functional as F

from benchmarks.common import matmul_peak, median_rate
from grokrepro.models import build_model
from grokrepro.spec import expand_runs, load_spec
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer

SMALL_AND_LARGE = ["specs/grokking.yaml", "specs/lmn_compression.yaml"]


def nominal_flops_per_example(model) -> int:
    """Forward FLOPs of an embedding-MLP computed the plain way: every dense layer on every example."""
    layers = [*model.hidden, model.readout]
    return 2 * sum(layer.in_features * layer.out_features for layer in layers)


def plain_loop(run, dataset, steps: int) -> None:
    """The loop a researcher would write: the plain module, torch.optim.AdamW, full batch."""
    torch.manual_seed(run.seed)
    model = build_model(run.model, dataset.n_symbols)
    optimizer = torch.optim.AdamW(model.parameters(), lr=run.optimizer.lr, betas=run.optimizer.betas,
                                  weight_decay=run.optimizer.weight_decay)
    x = torch.as_tensor(dataset.inputs[dataset.train_index])
    y = torch.as_tensor(dataset.labels[dataset.train_index])
    embed, first = model.embed, model.hidden[0]
    for _ in range(steps):
        # the plain first layer, not grokrepro's table, so that this is the straightforward computation
        hidden = model.activation(first(embed(x).flatten(-2)))
        loss = F.cross_entropy(model.from_first_hidden(hidden), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def grokrepro_runs(runs, steps: int) -> None:
    runs = [r.__class__(**{**r.__dict__, "train": r.train.model_copy(update={
        "steps": steps, "log_every": steps, "log_points": 0, "log_every_step_until": 0, "probes": [],
        "checkpoint_every": 10**9, "early_stop": r.train.early_stop.model_copy(update={"enabled": False}),
        "early_abort": r.train.early_abort.model_copy(update={"enabled": False})})}) for r in runs]
    EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs]).run(progress=False)


def measure(spec_path: str, scale: str, steps: int, repeats: int, ensemble: int, peak: float) -> dict:
    first = expand_runs(load_spec(spec_path, scale), "development")[0]
    seeds = [first.__class__(**{**first.__dict__, "seed": first.seed + k}) for k in range(ensemble)]
    dataset = make_dataset(first.task, first.split_seed)
    n_train = len(dataset.train_index)
    flops_per_step = 3 * nominal_flops_per_example(build_model(first.model, dataset.n_symbols)) * n_train
    plain = median_rate(lambda: plain_loop(first, dataset, steps), steps, repeats)
    single = median_rate(lambda: grokrepro_runs([first], steps), steps, repeats)
    batched = median_rate(lambda: grokrepro_runs(seeds, steps), steps * ensemble, repeats)
    return {
        "spec": spec_path, "model": first.model.model_dump(), "prime": first.task.prime,
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
    parser.add_argument("--specs", nargs="+", default=SMALL_AND_LARGE)
    parser.add_argument("--scale", default="default")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ensemble", type=int, default=8)
    args = parser.parse_args()

    peak = matmul_peak()
    results = [measure(path, args.scale, args.steps, args.repeats, args.ensemble, peak) for path in args.specs]
    print(json.dumps({"matmul_peak_gflops": peak / 1e9, "threads": torch.get_num_threads(),
                      "steps_timed": args.steps, "repeats": args.repeats, "results": results}, indent=2))
    n = args.ensemble
    print(f"\nmatmul peak {peak / 1e9:.0f} GFLOP/s, {torch.get_num_threads()} threads; steps/s (nominal MFU)")
    print(f"{'config':34}{'plain loop':>16}{'grokrepro':>16}{'ratio':>7}{f'{n} vmapped':>16}"
          f"{'vs seq.':>8}{'vs plain':>9}")
    for r in results:
        name = f"{r['spec'].split('/')[-1].removesuffix('.yaml')} (p={r['prime']}, {r['train_examples']} ex.)"
        print(f"{name:34}{r['plain_loop_steps_per_s']:9.1f} ({r['plain_mfu']:4.0%})"
              f"{r['grokrepro_steps_per_s']:9.1f} ({r['grokrepro_nominal_mfu']:4.0%})"
              f"{r['grokrepro_vs_plain']:6.2f}x"
              f"{r[f'vmapped_{n}_run_steps_per_s']:9.1f} ({r['vmapped_nominal_mfu']:4.0%})"
              f"{r[f'vmapped_{n}_vs_sequential_grokrepro']:7.2f}x{r[f'vmapped_{n}_vs_sequential_plain']:8.2f}x")


if __name__ == "__main__":
    main()
