import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def workflow_dir(tmp_path):
    """A copy of the workflow (Snakefile, rules, specs, config, profiles) in a fresh folder."""
    for name in ("Snakefile", "rules", "specs", "config", "profiles"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path
