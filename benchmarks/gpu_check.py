"""The GPU path, checked in five minutes at most on a CUDA machine, and the constants of the wall-time estimates
(benchmarks/gpu_model.py) measured on it.

    python -m benchmarks.gpu_check [--steps 300] [--gpu H100] [--json]

For one paper-scale group per model family (the family's smallest group, with all its runs) it trains
--steps steps on CUDA twice and reports

- steps per second (the second run; the first pays for CUDA's start-up) and the GPU's utilisation over it
  (torch.cuda.utilization, which needs pynvml; "n/a" without it);
- bitwise repeatability: the two runs' logged curves and final parameters, bit for bit (strict determinism and
  a pinned cuBLAS workspace, as the training jobs set them);
- agreement with the CPU: the same group's first CPU_STEPS steps on the CPU, whose training losses must agree
  with the GPU's within CPU_RTOL (relative): different kernels sum in different orders, so bits cannot agree,
  but the curves must;
- the calibration: seconds per dispatched op from the launch-bound groups and the utilisation of the FLOP-bound
  ones (ops and FLOPs counted as benchmarks/step_profile.py counts them), written to
  benchmarks/results/gpu_calibration.json, which step_profile.py then uses for this card.

Without a CUDA device it prints why and exits with status 0, measuring nothing: CI and CPU machines run it
harmlessly. Exit status 1 means a check failed (not repeatable, or off the CPU curves).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from dataclasses import replace

import numpy as np
import torch

CPU_STEPS = 20  # steps of each group on the CPU: the paper's shapes are slow there
CPU_RTOL = 1e-3  # relative agreement of GPU and CPU training losses over those steps
DEADLINE_SECONDS = 300


def _family_groups(steps: int):
    """One paper-scale group per model family: the family's smallest (runs x examples per step)."""
    from pathlib import Path

    from grokrepro.cluster import _training_examples
    from grokrepro.spec import expand_runs, load_spec, training_groups
    from grokrepro.spec.discover import discover_specs

    best = {}
    for claim, path in discover_specs(Path("specs")).items():
        for group_id, runs in training_groups(expand_runs(load_spec(Path(path), "paper"))).items():
            if runs[0].warm_start is not None:
                continue
            size = len(runs) * _training_examples(runs[0])
            kind = runs[0].model.kind
            if kind not in best or size < best[kind][0]:
                best[kind] = (size, claim, group_id, runs)
    return {kind: (claim, group_id, runs) for kind, (_, claim, group_id, runs) in sorted(best.items())}


def _trainer(runs, device: str, steps: int):
    from grokrepro.tasks import make_dataset
    from grokrepro.train import EnsembleTrainer

    # no stop rules: every run trains every step
    runs = [replace(r, train=r.train.model_copy(update={"stop_rules": {}})) for r in runs]
    trainer = EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs], device=device)
    trainer.train = trainer.train.model_copy(update={"steps": steps})
    trainer.steps = np.unique(np.r_[np.arange(0, min(steps, CPU_STEPS) + 1), np.arange(0, steps + 1, 50)])
    trainer.probes = []  # the training step is what is checked; probes are per-run host code
    return trainer


def _utilisation_during(work):
    """Run `work()`, sampling the GPU's utilisation every 0.1 s; (result, mean %) (None without pynvml)."""
    import threading

    samples, done = [], threading.Event()

    def sample():
        while not done.is_set():
            try:
                samples.append(torch.cuda.utilization())
            except Exception:  # pynvml missing or no permission
                return
            time.sleep(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        result = work()
    finally:
        done.set()
        thread.join()
    return result, (statistics.mean(samples) if samples else None)


def check_group(claim, group_id, runs, steps):
    from benchmarks.step_profile import _count_step

    first = _trainer(runs, "cuda", steps)
    first_result = first.run(progress=False)
    torch.cuda.synchronize()
    second = _trainer(runs, "cuda", steps)
    began = time.perf_counter()
    second_result, utilisation = _utilisation_during(lambda: second.run(progress=False))
    torch.cuda.synchronize()
    seconds = time.perf_counter() - began
    repeatable = all(np.array_equal(first_result.metrics[k], second_result.metrics[k], equal_nan=True)
                     for k in first_result.metrics)
    repeatable &= all(torch.equal(first.params[k], second.params[k]) for k in first.params)

    cpu = _trainer(runs, "cpu", CPU_STEPS).run(progress=False)
    columns = [i for i, s in enumerate(second.steps) if s < CPU_STEPS]
    gpu_loss = second_result.metrics["train_loss"][:, columns]
    cpu_loss = cpu.metrics["train_loss"][:, columns]
    worst = float(np.nanmax(np.abs(gpu_loss - cpu_loss) / np.abs(cpu_loss)))

    counter, flops = _count_step(_trainer(runs, "cuda", 3))
    return {"claim": claim, "group": group_id, "model": runs[0].model.kind, "runs": len(runs),
            "steps": steps, "steps_per_second": steps / seconds, "seconds_per_step": seconds / steps,
            "gpu_utilisation_percent": utilisation, "bitwise_repeatable": bool(repeatable),
            "cpu_steps": CPU_STEPS, "cpu_max_relative_loss_difference": worst, "agrees_with_cpu": worst <= CPU_RTOL,
            "ops_per_step": counter.total, "flops_per_step": int(flops)}


def calibrate(groups, gpu) -> dict:
    """Seconds per op from the launch-bound groups (their step time / their ops), utilisation from the others."""
    per_op = [g["seconds_per_step"] / g["ops_per_step"] for g in groups
              if g["flops_per_step"] / (gpu.fp32_flops * gpu.utilisation) < g["ops_per_step"] * gpu.seconds_per_op]
    utilisation = [g["flops_per_step"] / g["seconds_per_step"] / gpu.fp32_flops for g in groups
                   if g["flops_per_step"] / (gpu.fp32_flops * gpu.utilisation) >= g["ops_per_step"] * gpu.seconds_per_op]
    return {"gpu": gpu.name, "device_name": torch.cuda.get_device_name(),
            "seconds_per_op": statistics.median(per_op) if per_op else gpu.seconds_per_op,
            "utilisation": statistics.median(utilisation) if utilisation else gpu.utilisation,
            "from_groups": [g["group"] for g in groups]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--gpu", default="H100", help="which card's constants to calibrate (benchmarks/gpu_model.py)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        why = "a CPU-only build of torch" if torch.version.cuda is None else "no CUDA device visible"
        print(f"gpu_check: nothing to check here ({why}); run it on a machine with a GPU.")
        return 0
    from benchmarks.gpu_model import CALIBRATION, GPUS
    from grokrepro.cli import deterministic_algorithms

    deterministic_algorithms("cuda")  # what a training job sets on CUDA
    began, groups = time.perf_counter(), []
    for kind, (claim, group_id, runs) in _family_groups(args.steps).items():
        if time.perf_counter() - began > DEADLINE_SECONDS * 0.8:
            print(f"gpu_check: out of time before {kind}", file=sys.stderr)
            break
        groups.append(check_group(claim, group_id, runs, args.steps))
        g = groups[-1]
        print(f"{kind:18s} {claim:22s} {g['runs']:2d} runs {g['steps_per_second']:8.1f} steps/s "
              f"util {g['gpu_utilisation_percent'] if g['gpu_utilisation_percent'] is not None else 'n/a'} "
              f"repeatable {g['bitwise_repeatable']} cpu rel diff {g['cpu_max_relative_loss_difference']:.1e}",
              file=sys.stderr, flush=True)
    calibration = calibrate(groups, GPUS[args.gpu])
    CALIBRATION.parent.mkdir(exist_ok=True)
    CALIBRATION.write_text(json.dumps(calibration, indent=1) + "\n")
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda,
              "cpu_rtol": CPU_RTOL, "groups": groups, "calibration": calibration,
              "seconds": time.perf_counter() - began}
    print(json.dumps(result, indent=1) if args.json else
          f"{len(groups)} families in {result['seconds']:.0f} s; calibration written to {CALIBRATION}")
    return 0 if all(g["bitwise_repeatable"] and g["agrees_with_cpu"] for g in groups) else 1


if __name__ == "__main__":
    sys.exit(main())
