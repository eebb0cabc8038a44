import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def copy_workflow(directory):
    """A copy of the workflow (Snakefile, rules, specs, config, profiles, envs) in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "rules", "specs", "config", "profiles", "envs"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, directory / name)
        else:
            shutil.copy(source, directory / name)
    return directory


@pytest.fixture
def workflow_dir(tmp_path):
    return copy_workflow(tmp_path)


# A researcher's own experiment, as a new user writes it: a name no code knows, a task, model and check kind
# the shipped claims use. The smoke DAG runs it beside the papers' claims, with no code change.
USER_SPEC = """\
claim: wd_sweep_subtraction
paper: "My lab notebook, 2026: does weight decay set the grokking delay on x-y?"
statement: >-
  On x-y mod 13, an embedding-MLP fits its training pairs long before it generalises.
task: {kind: modular, operation: x-y, prime: 13, train_fraction: 0.5, split_seed: run}
model: {kind: mlp, embed_dim: 8, hidden: 32}
optimizer: {lr: 1.0e-2, weight_decay: 1.0, warmup_steps: 5}
train: {steps: 60, log_every: 10, log_points: 0, checkpoint_every: 60}
sweep:
  optimizer.weight_decay: [0.3, 1.0]
seeds: {development: [0], verdict: [1, 2]}
checks:
  - name: D1
    kind: delayed_generalisation
    statement: At weight decay 1, test accuracy is at most 0.1 when the train set is fit and t_gen >= 10 t_fit.
    where: {weight_decay: 1.0}
scales:
  smoke: {differs_from_paper: ["a pipeline test: 60 steps"]}
  default: {}
  paper: {}
"""
USER_CLAIM = "wd_sweep_subtraction"


def write_user_spec(directory):
    (directory / "specs" / f"{USER_CLAIM}.yaml").write_text(USER_SPEC)
    return directory


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The whole smoke DAG, a user's own spec included, run once per test session with -c2."""
    directory = write_user_spec(copy_workflow(tmp_path_factory.mktemp("smoke")))
    done = subprocess.run(["snakemake", "-c2", "paper/all", "--config", "scale=smoke"], cwd=directory,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return directory
