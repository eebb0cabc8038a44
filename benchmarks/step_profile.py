"""What one training step of every group of a scale costs, counted on the CPU, and the scale's wall time on a GPU
estimated from the counts.

    python -m benchmarks.step_profile --scale paper [--gpu H100] [--json] [--claims grokking,grokfast]

For every training group of every spec (warm-start parents included) it builds the real group (its runs,
model, optimiser and transformations) and runs two training steps with logging switched off: step 0 warms up,
step 1 is counted. A full-batch group of more than --max-examples examples per step is profiled on its first
--max-examples training (and test) examples and again on half as many, and its FLOPs extended along the line
through the two: FLOPs are affine in the number of examples, so this is exact, and op counts do not depend on
the data's size at all (it keeps the largest groups, 9 runs x 12,960 examples, from needing gigabytes of
activations on a shared machine). Under a TorchDispatchMode it counts

- ops_per_step: the aten ops dispatched by the step (forward, backward, optimiser, bookkeeping);
- host_syncs_per_step: the ops that make the host wait for the device or hand it host-made data, which on a GPU
  stop the host from running ahead and rule out capturing the step as a CUDA graph: `_local_scalar_dense`
  (`.item()`, `bool(tensor)`), `nonzero` and the other ops whose output shape depends on the data, and tensors
  made on the host inside the step (`lift_fresh`: `torch.tensor(...)`; `randperm` on a CPU generator), which
  on a GPU are blocking copies from pageable memory;
- flops_per_step: torch.utils.flop_counter.FlopCounterMode's count (matmuls, forward and backward);

and the same three for one evaluation (test set, plus the training set where the batch is not the whole
training set), which the trainer runs at each logged step.

The estimate per group is steps x max(ops x per-op latency, FLOPs / (peak x utilisation)) plus the same for its
evaluations, at full step budgets (no early stop credited: an upper bound) and without probes; the constants
live in benchmarks/gpu_model.py and are replaced by benchmarks/gpu_check.py's measurements once that has run
on the card. The total is the serial sum: GPU-hours, which `-c2` (two jobs sharing the card) can at best halve
while both jobs are launch-bound.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.gpu_model import gpu_model
from grokrepro.spec import expand_runs, load_spec, training_groups, warm_start_runs
from grokrepro.spec.discover import discover_specs
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer

# Ops that read a device value on the host (the host waits for the device to get there).
READS_DEVICE = {"_local_scalar_dense", "is_nonzero", "equal", "item"}
# Ops whose output's shape depends on the data: the host must wait to learn it.
DATA_DEPENDENT_SHAPE = {"nonzero", "masked_select", "_unique", "_unique2", "unique_dim", "unique_consecutive",
                        "repeat_interleave", "index_put_with_sort"}
# Tensors made on the host inside a step: a blocking copy from pageable memory once the step runs on a GPU.
HOST_MADE = {"lift_fresh", "lift_fresh_copy", "randperm"}
HOST_SYNCS = READS_DEVICE | DATA_DEPENDENT_SHAPE | HOST_MADE


class OpCounter(TorchDispatchMode):
    """Counts every aten op dispatched while it is active, by name."""

    def __init__(self):
        super().__init__()
        self.ops: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.ops.values())

    @property
    def host_syncs(self) -> dict[str, int]:
        return {name: n for name, n in sorted(self.ops.items()) if name in HOST_SYNCS}


class _Counted(Exception):
    """Raised at the start of the step after the counted one: the profile needs nothing more of the run."""


def _count_step(trainer: EnsembleTrainer, counted_step: int = 1):
    """Ops and FLOPs of training step `counted_step`: from the start of its batch to the start of the next
    step's, so that everything the loop does between two non-logged steps is in it."""
    counter, flops = OpCounter(), FlopCounterMode(display=False)
    real_batch = trainer._batch

    def batch(step):
        if step == counted_step:
            counter.__enter__()
            flops.__enter__()
        elif step == counted_step + 1:
            flops.__exit__(None, None, None)
            counter.__exit__(None, None, None)
            raise _Counted
        return real_batch(step)

    trainer._batch = batch
    # Two steps and one more batch; nothing logged, so that the counted step is an ordinary one.
    trainer.train = trainer.train.model_copy(update={"steps": counted_step + 2})
    trainer.steps = np.array([], dtype=int)
    trainer.checkpoint_path = None
    try:
        trainer.run(progress=False)
    except _Counted:
        pass
    else:
        raise RuntimeError("the trainer never started the step after the counted one")
    finally:
        del trainer._batch  # the class's own again (an instance attribute would keep the trainer alive)
    return counter, flops.get_total_flops()


def _count_evaluation(trainer: EnsembleTrainer):
    """Ops and FLOPs of the evaluation a logged step runs (the test set; the training set too unless the step's
    own batch is the whole training set)."""
    counter, flops = OpCounter(), FlopCounterMode(display=False)
    with counter, flops:
        if not trainer.full_batch:
            trainer._evaluate(trainer.train_x, trainer.train_y)
        trainer._evaluate(trainer.test_x, trainer.test_y)
    return counter.total, flops.get_total_flops()


def _describe(runs) -> dict:
    first = runs[0]
    return {"model": first.model.kind, "optimizer": first.optimizer.kind,
            "transforms": [t.kind for t in first.optimizer.transforms],
            "shared_rates": len({(r.optimizer.lr, r.optimizer.weight_decay) for r in runs}) == 1,
            "batch_size": first.optimizer.batch_size, "loss_dtype": first.optimizer.loss_dtype,
            "steps": first.train.steps}


def _cut(trainer: EnsembleTrainer, examples: int) -> None:
    """Keep the first `examples` training examples of a full-batch group (and test examples of any group)."""
    if trainer.full_batch and trainer.train_x.shape[1] > examples:
        trainer.train_x = trainer.train_x[:, :examples].contiguous()  # as the trainer's own splits are
        trainer.train_y = trainer.train_y[:, :examples].contiguous()
        trainer.batch_size = examples
    trainer.test_x = trainer.test_x[:, :examples].contiguous()
    trainer.test_y = trainer.test_y[:, :examples].contiguous()


def _evaluated(trainer: EnsembleTrainer) -> int:
    return trainer.test_x.shape[1] + (0 if trainer.full_batch else trainer.train_x.shape[1])


def _at_full_size(full: int, measured: list[tuple[int, float]]) -> float:
    """FLOPs at `full` examples from counts at fewer. FLOPs are affine in the number of examples (some layers,
    like the embedding MLP's first, are computed once per vocabulary rather than per example), so two sizes fix
    the line exactly."""
    (n1, f1), (n2, f2) = measured
    if n1 == full or n1 == n2:
        return f1
    slope = (f1 - f2) / (n1 - n2)
    return f1 + slope * (full - n1)


def profile_group(claim: str, group_id: str, runs, gpu, max_examples: int) -> dict:
    datasets = [make_dataset(r.task, r.split_seed) for r in runs]
    began = time.perf_counter()
    trainer = EnsembleTrainer(runs, datasets)  # warm-start children start from their own init: same ops
    logs = len(trainer.steps)
    examples, evaluated = trainer.batch_size, _evaluated(trainer)
    step_counts, eval_counts = [], []
    for size in (max_examples, max_examples // 2):  # the second size only where the first cut anything
        _cut(trainer, size)
        eval_ops, eval_flops = _count_evaluation(trainer)
        counter, flops = _count_step(trainer)
        step_counts.append((trainer.batch_size, flops))
        eval_counts.append((_evaluated(trainer), eval_flops))
        if trainer.batch_size == examples and _evaluated(trainer) == evaluated:
            step_counts.append(step_counts[0])
            eval_counts.append(eval_counts[0])
            break
        if size == max_examples:
            first_counter, first_eval_ops = counter, eval_ops
    else:
        counter, eval_ops = first_counter, first_eval_ops
    flops, eval_flops = _at_full_size(examples, step_counts), _at_full_size(evaluated, eval_counts)
    del trainer, datasets
    gc.collect()
    first = runs[0]
    step_seconds = gpu.step_seconds(counter.total, flops)
    eval_seconds = gpu.step_seconds(eval_ops, eval_flops)
    estimate = first.train.steps * step_seconds + logs * eval_seconds
    return {"claim": claim, "group": group_id, "runs": len(runs), **_describe(runs),
            "examples_per_step": int(examples), "profiled_on_examples": [n for n, _ in step_counts],
            "log_steps": logs,
            "ops_per_step": counter.total, "host_syncs_per_step": sum(counter.host_syncs.values()),
            "host_sync_ops": counter.host_syncs, "flops_per_step": int(flops),
            "eval_ops": eval_ops, "eval_flops": int(eval_flops),
            "launch_bound": counter.total * gpu.seconds_per_op >= flops / (gpu.fp32_flops * gpu.utilisation),
            "gpu_step_ms": 1e3 * step_seconds, "gpu_hours": estimate / 3600,
            "cpu_seconds_to_profile": round(time.perf_counter() - began, 1)}


def scale_groups(scale: str, claims: list[str] | None):
    for claim, path in discover_specs(Path("specs")).items():
        if claims and claim not in claims:
            continue
        spec = load_spec(Path(path), scale)
        runs = expand_runs(spec, "verdict")
        for prefix, groups in (("warm-", training_groups(warm_start_runs(runs))), ("", training_groups(runs))):
            for group_id, members in groups.items():
                yield claim, prefix + group_id, members


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="paper")
    parser.add_argument("--gpu", default="H100", help="the card the wall time is estimated for")
    parser.add_argument("--claims", default="", help="comma-separated claims (default: every spec)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-examples", type=int, default=2048,
                        help="profile larger full-batch groups on this many examples and scale their FLOPs")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    gpu = gpu_model(args.gpu)
    claims = [c for c in args.claims.split(",") if c]
    groups = []
    for claim, group_id, runs in scale_groups(args.scale, claims):
        groups.append(profile_group(claim, group_id, runs, gpu, args.max_examples))
        g = groups[-1]  # a line per group as it is done (on stderr under --json)
        print(f"{claim:22s} {group_id:28s} {g['runs']:2d} runs {g['ops_per_step']:6d} ops "
              f"{g['host_syncs_per_step']:3d} syncs {g['flops_per_step']:.2e} FLOP "
              f"{g['gpu_step_ms']:7.2f} ms/step {g['gpu_hours']:6.2f} GPU-h", flush=True,
              file=sys.stderr if args.json else sys.stdout)
    total = sum(g["gpu_hours"] for g in groups)
    result = {"scale": args.scale, "max_examples": args.max_examples, "gpu": gpu.as_dict(), "torch": torch.__version__, "groups": groups,
              "total_gpu_hours": total,
              "launch_bound_groups": sum(g["launch_bound"] for g in groups),
              "groups_with_host_syncs": sum(g["host_syncs_per_step"] > 0 for g in groups)}
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
    else:
        print(f"{len(groups)} groups, {result['launch_bound_groups']} launch-bound on {gpu.name}; "
              f"{result['groups_with_host_syncs']} with host syncs in a non-logged step; "
              f"estimated {total:.1f} {gpu.name}-hours serial"
              f"{'' if gpu.calibrated else ' (uncalibrated constants, benchmarks/gpu_model.py)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
