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


def test_the_readme_is_a_front_page():
    # what a researcher reads in five minutes; the rest is in docs/
    assert len((ROOT / "README.md").read_bytes()) <= 12 * 1024


def test_every_relative_link_of_the_readme_and_docs_leads_to_a_file():
    import re

    for page in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        for target in re.findall(r"\]\(([^)\s#]+)\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to {target}"
                assert (page.parent / target).resolve().is_relative_to(ROOT), f"{target} leaves the repository"


def test_the_readme_walkthrough_spec_validates(tmp_path):
    from conftest import USER_SPEC
    from grokrepro.spec import load_spec

    path = tmp_path / "my_experiment.yaml"
    path.write_text(USER_SPEC)
    for scale in ("smoke", "default", "paper"):
        assert load_spec(path, scale).claim == "my_experiment"


def missing_images(markdown: str, root: Path) -> list[str]:
    """The relative image paths of `markdown` (![alt](path)) that are not files under `root`."""
    import re

    paths = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", markdown)
    return [path for path in paths if "://" not in path and not (root / path).is_file()]


def test_a_missing_readme_image_is_found(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "here.png").write_bytes(b"png")
    text = "![a](docs/here.png) and ![b](docs/gone.png) and ![c](https://example.org/x.png)"
    assert missing_images(text, tmp_path) == ["docs/gone.png"]


def test_the_readme_images_are_files_of_the_repository():
    text = (ROOT / "README.md").read_text()
    assert "](docs/images/my_experiment_accuracy.png)" in text
    assert missing_images(text, ROOT) == []
