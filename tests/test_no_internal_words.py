"""What a user reads speaks of the project alone: no issue numbers, no words about how or when the work was done,
no commit hashes in prose and no paths outside the repository, in the README, docs/, the specs and a built
report."""

import re

import pytest

from conftest import ROOT

INTERNAL = {
    "an issue number": re.compile(r"\bissues? #?\d+\b|\bsee #\d+\b", re.IGNORECASE),
    "a work-log word": re.compile(r"\bthis round\b|\blast round\b|\bsession \d+\b|\(new\)|\bthis session\b",
                                  re.IGNORECASE),
    "a path outside the repository": re.compile(r"\.\./shared|shared/reviews|\bCLAIMS\.md\b|/work/|\bthe review's\b"),
    # 7-40 hex digits with at least one letter and one digit, standing alone (run and group ids are prefixed)
    "a commit hash": re.compile(r"(?<![\w/.])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}(?![\w.])"),
}


def leaks(text: str) -> list[str]:
    # embedded images are data, not prose: their base64 holds every short hex run
    text = re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", "data:...", text)
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        found += [f"line {number}: {what}: {match.group(0)!r}"
                  for what, pattern in INTERNAL.items() for match in pattern.finditer(line)]
    return found


def user_facing_files():
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "specs").glob("*.yaml"))]


@pytest.mark.parametrize("path", user_facing_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_user_facing_file_has_no_internal_words(path):
    assert leaks(path.read_text()) == []


def test_the_leak_patterns_find_what_they_are_for():
    text = ("see issue 18; fixed this round; in ../shared/reviews/x.md; measured on a1b2c3d4e5; "
            "Session 3 notes; CLAIMS.md says")
    kinds = {line.split(": ")[1] for line in leaks(text)}
    assert kinds == set(INTERNAL)
    # run ids, group ids, sha256 fields in data and plain numbers are not commit hashes
    assert leaks("run r4c55c06ee745, group g846a9fc8416f, 0.6666666666666666, 2026-12-07, sha256: 1234") == []


@pytest.mark.workflow
def test_the_built_report_has_no_internal_words(smoke_run):
    reports = sorted(smoke_run.glob("paper*/report.html"))
    assert reports
    for report in reports:
        assert leaks(report.read_text()) == []
