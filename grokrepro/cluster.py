"""What one training job asks a cluster scheduler for. rules/train.smk declares it; a local run only counts cores.

Memory and wall time are sized per scale in config/config.yaml (`train_resources`); whether a job needs a GPU
follows from the runs themselves, so that smoke and default scale never wait in a GPU queue.
"""

from __future__ import annotations

from typing import Any, Iterable

from grokrepro.spec.runs import RunConfig

# The scale that follows the papers' own setups, sized for a GPU; the others are sized for a CPU.
GPU_SCALE = "paper"


def wants_gpu(runs: Iterable[RunConfig], scale: str) -> bool:
    """A group trains on a GPU when its spec says `device: cuda`, or says `auto` at the GPU-sized scale."""
    devices = {run.train.device for run in runs}
    return "cuda" in devices or ("auto" in devices and scale == GPU_SCALE)


def training_resources(runs: list[RunConfig], scale: str, sizes: dict[str, Any], threads: int) -> dict[str, int]:
    """Scheduler resources for one vmapped training group: cores, memory (MB), wall time (minutes) and GPUs."""
    try:
        size = sizes[scale]
    except KeyError:
        raise KeyError(f"config train_resources has no entry for scale {scale!r}") from None
    return {
        # The cores the job's math uses (torch_threads), so that a cluster job gets exactly what it computes on.
        "cpus_per_task": int(threads),
        "mem_mb": int(size["mem_mb"]),
        "runtime": int(size["runtime"]),
        "gpu": int(wants_gpu(runs, scale)),
    }
