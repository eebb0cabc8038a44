from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("```bash") + 1
    return [line.split("#")[0].strip() for line in lines[start : start + 2]]


def test_readme_opens_with_the_two_commands():
    run_all, run_tests = readme_commands()
    assert run_all.endswith("snakemake -c2 paper/all")
    assert run_tests.endswith("pytest")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci/run").read_text().splitlines()
    assert readme_commands()[1] in ci
