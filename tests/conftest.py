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


# A researcher's own experiment, exactly as the README's walk-through writes it: a name no code knows, a task,
# model and check kind the shipped claims use. The smoke DAG runs it beside the papers' claims, with no code change.
def readme_example_spec() -> str:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- example-spec:begin -->", 1)[1].split("<!-- example-spec:end -->", 1)[0]
    return block.split("```yaml\n", 1)[1].split("```", 1)[0]


USER_SPEC = readme_example_spec()
USER_CLAIM = "my_experiment"


def write_user_spec(directory):
    (directory / "specs" / f"{USER_CLAIM}.yaml").write_text(USER_SPEC)
    return directory


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The whole smoke DAG, a user's own spec included, run once per test session with -c2."""
    directory = write_user_spec(copy_workflow(tmp_path_factory.mktemp("smoke")))
    done = subprocess.run(["snakemake", "-c2", "paper-smoke/all", "--config", "scale=smoke"], cwd=directory,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return directory
