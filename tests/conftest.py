import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def copy_workflow(directory):
    """A copy of the workflow (Snakefile, rules, specs, config, profiles) in `directory`."""
    for name in ("Snakefile", "rules", "specs", "config", "profiles"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, directory / name)
        else:
            shutil.copy(source, directory / name)
    return directory


@pytest.fixture
def workflow_dir(tmp_path):
    return copy_workflow(tmp_path)
