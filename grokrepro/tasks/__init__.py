"""Tasks: one registered kind per task (grokrepro.registry.TASKS), each a Settings model and a function of
(settings, split seed) that makes the Dataset. Modules here import numpy, never torch."""

from grokrepro.tasks.dataset import Dataset


def make_dataset(task, split_seed: int) -> Dataset:
    """The dataset of a task's settings, made by its registered kind."""
    from grokrepro.registry import TASKS

    return TASKS[task.kind].load()(task, split_seed)


__all__ = ["Dataset", "make_dataset"]
