"""The HTML audit report: one self-contained page, built from verdict.json files and figure PNGs only."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from grokrepro.claims.catalog import CLAIMS
from grokrepro.claims.judgement import Verdict
from grokrepro.figures.common import read_description
from grokrepro.integrity import partial_name, sha256_file

BADGES = {
    "reproduced": "reproduced",
    "not_reproduced": "not reproduced",
    "inconclusive": "inconclusive",
}


def badge(verdict: dict) -> str:
    label = BADGES[verdict["verdict"]]
    if verdict["verdict"] == "reproduced" and verdict.get("setting") == "substitute":
        label += " (substitute setting)"
    return label


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def data_problems(verdict: dict) -> list[str]:
    """The files a verdict was computed from (its curves and the group files they merge) that are gone or whose
    bytes differ from the sha256 it recorded; paths are relative to the workflow's directory, where the
    report is built."""
    recorded = {**verdict.get("group_sha256", {}), **verdict.get("data_sha256", {})}
    if "data_sha256" not in verdict:
        return ["this verdict records no sha256 of its data, so its data cannot be checked"]
    problems = []
    for path, sha256 in sorted(recorded.items()):
        if not Path(path).is_file():
            problems.append(f"missing: {path}")
        elif sha256_file(path) != sha256:
            problems.append(f"changed since the verdict: {path}")
    return problems


def trained_by_other_code(verdict: dict) -> bool:
    """Whether some of the curves were trained by another commit than the one that computed the verdict
    (run ids name configurations, not code: a change to the training code retrains nothing by itself)."""
    trained = {c.strip() for c in str(verdict.get("training_git_commit") or "").split(",") if c.strip()}
    return bool(trained) and trained != {verdict.get("git_commit")}


def _claim_section(name: str, claim_dir: Path | None) -> dict:
    paper, summary = CLAIMS.get(name, ("", ""))
    section = {"name": name, "paper": paper, "summary": summary, "implemented": False}
    if claim_dir is None:
        return section
    # Read through the typed model: a verdict.json missing a field, or with one it does not know, is refused.
    verdict = Verdict.read(claim_dir / "verdict.json").as_json()
    figures = []
    for png in sorted(claim_dir.glob("*.png")):
        encoded = base64.b64encode(png.read_bytes()).decode()
        figures.append({"name": png.stem.replace("_", " "), "src": f"data:image/png;base64,{encoded}",
                        "description": read_description(png)})
    return {**section, "implemented": True, "verdict": verdict, "badge": badge(verdict),
            "data_problems": data_problems(verdict), "other_code": trained_by_other_code(verdict),
            "figures": figures, "summary": verdict.get("statement", summary), "paper": verdict["paper"]}


def _sections(claim_dirs: list[Path], names: list[str] | None = None) -> list[dict]:
    """One section per claim: `names` in the papers' order (default: every paper's claim, then the others
    given), each with its verdict where a folder was given, else marked not implemented."""
    by_name = {Path(d).name: Path(d) for d in claim_dirs}
    listed = list(CLAIMS) + [n for n in by_name if n not in CLAIMS]
    if names is not None:
        listed = [n for n in listed if n in names] + [n for n in names if n not in listed]
    return [_claim_section(name, by_name.get(name)) for name in listed]


def _reasoning_page(name: str, out: Path) -> str | None:
    """The link, relative to the report, to docs/claims/<claim>.md (why each setting, how each check reads its
    paper) where the repository the report is built in has one."""
    page = Path("docs") / "claims" / f"{name}.md"
    return os.path.relpath(page.resolve(), Path(out).resolve().parent) if page.is_file() else None


def write_report(claim_dirs: list[Path], out: Path, summary: Path | None = None,
                 names: list[str] | None = None) -> None:
    sections = [{**section, "reasoning": _reasoning_page(section["name"], out)}
                for section in _sections(claim_dirs, names)]
    environment = Environment(loader=PackageLoader("grokrepro.report"),
                              autoescape=select_autoescape(["html", "j2"]))
    environment.filters["fmt"] = _fmt
    # A check's control is one mapping or a list of them (see claims.verdict.with_controls).
    environment.filters["as_list"] = lambda v: [] if v is None else (v if isinstance(v, list) else [v])
    html = environment.get_template("report.html.j2").render(sections=sections)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_name(out)
    partial.write_text(html)
    os.replace(partial, out)
    if summary is not None:
        write_summary(claim_dirs, summary, out, names)


def write_summary(claim_dirs: list[Path], summary: Path, report: Path, names: list[str] | None = None) -> None:
    """One line per claim (name, verdict, scale, and a mark where its data is missing or changed), then the
    report's path."""
    lines = [f"{s['name']}\t{s['badge'] if s['implemented'] else 'not implemented'}\t"
             f"{s['verdict']['scale'] if s['implemented'] else '-'}"
             f"{chr(9) + 'DATA MISSING OR CHANGED' if s.get('data_problems') else ''}"
             for s in _sections(claim_dirs, names)]
    Path(summary).write_text("\n".join(lines) + f"\nreport: {report}\n")
