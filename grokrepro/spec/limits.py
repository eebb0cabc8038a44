"""Ceilings on what a spec may ask for: runs, dataset and parameter bytes and steps per training group.

A prime of 100003 or a width of 10⁶ is a valid number but not a runnable experiment: without a ceiling it
validates and then dies in an allocation traceback (or, a little smaller, eats the host). The ceilings live in
the workflow config (config/config.yaml, `limits`), so a bigger machine raises them in one place; a spec above
one is refused with the field that makes it so.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from grokrepro.spec.load import SpecError, sweep_points

# Used where no workflow config is at hand (grokrepro validate outside a checkout); config/config.yaml repeats them.
DEFAULT_LIMITS = {"max_runs": 5000, "max_dataset_bytes": 2**30, "max_parameter_bytes": 2**30,
                  "max_steps": 10_000_000}


def workflow_limits(config_path: Path = Path("config/config.yaml")) -> dict[str, int]:
    """The `limits` of the workflow config, or the defaults where there is none."""
    limits = dict(DEFAULT_LIMITS)
    if Path(config_path).is_file():
        limits.update((yaml.safe_load(Path(config_path).read_text()) or {}).get("limits") or {})
    return {key: int(value) for key, value in limits.items()}


def parameter_count(model, size) -> int:
    """The model's parameters, counted on PyTorch's meta device: built, never allocated."""
    import torch

    from grokrepro.models import ModelShape, build_model

    shape = ModelShape(size.n_symbols, size.columns, size.outputs, size.token_inputs)
    with torch.device("meta"):
        network = build_model(model, shape)
    return sum(p.numel() for p in network.parameters())


def check_limits(spec, path: str | Path, limits: dict[str, int], seed_set: str = "verdict") -> None:
    """SpecError naming the field when the spec's scale asks for more than a ceiling allows."""
    from grokrepro.spec.runs import expand_runs, training_groups

    where = f"{path} (scale {spec.scale})"
    seeds = len(set(getattr(spec.seeds, seed_set)))
    estimated = len(sweep_points(spec.sweep)) * seeds  # an upper bound, counted before any run is built
    if estimated > limits["max_runs"]:
        raise SpecError(f"{where}: fields 'sweep' and 'seeds.{seed_set}' give {estimated} runs; the workflow "
                        f"config allows at most {limits['max_runs']} (limits.max_runs in config/config.yaml)")
    for group in training_groups(expand_runs(spec, seed_set)).values():
        first, n_runs = group[0], len(group)
        if first.train.steps > limits["max_steps"]:
            raise SpecError(f"{where}: field 'train.steps' = {first.train.steps}: more than the "
                            f"{limits['max_steps']} steps a training group may take (limits.max_steps)")
        # a task that can say its size before it is made (its Settings' size()); one that cannot (a file, capped
        # on its own) is not checked here
        size = first.task.size() if hasattr(first.task, "size") else None
        if size is None:
            continue
        examples, columns = size.examples, size.columns
        dataset_bytes = n_runs * examples * (columns + 1) * 8  # int64 or float64 inputs and labels, per run
        if dataset_bytes > limits["max_dataset_bytes"]:
            raise SpecError(f"{where}: field '{size.field}' gives {examples} examples per run, {dataset_bytes / 2**30:.1f} "
                            f"GiB for a group of {n_runs} runs; at most {limits['max_dataset_bytes'] / 2**30:.1f} GiB "
                            "(limits.max_dataset_bytes)")
        parameter_bytes = n_runs * parameter_count(first.model, size) * 4
        if parameter_bytes > limits["max_parameter_bytes"]:
            raise SpecError(f"{where}: field 'model' ({first.model.kind}) has {parameter_bytes / 2**30:.1f} GiB of "
                            f"float32 parameters in a group of {n_runs} runs; at most "
                            f"{limits['max_parameter_bytes'] / 2**30:.1f} GiB (limits.max_parameter_bytes)")
