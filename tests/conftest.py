import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def copy_workflow(directory):
    """A copy of the workflow (Snakefile, rules, specs, config, profiles, envs) in `directory`."""
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


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The whole smoke DAG, run once per test session with -c2."""
    directory = copy_workflow(tmp_path_factory.mktemp("smoke"))
    done = subprocess.run(["snakemake", "-c2", "paper/all", "--config", "scale=smoke"], cwd=directory,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return directory
