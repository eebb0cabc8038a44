"""The HTML audit report: one self-contained page, built from verdict.json files and figure PNGs only."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from grokrepro.claims.catalog import CLAIMS
from grokrepro.claims.judgement import Verdict

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
        figures.append({"name": png.stem.replace("_", " "), "src": f"data:image/png;base64,{encoded}"})
    return {**section, "implemented": True, "verdict": verdict, "badge": badge(verdict),
            "figures": figures, "summary": verdict.get("statement", summary), "paper": verdict["paper"]}


def write_report(claim_dirs: list[Path], out: Path, summary: Path | None = None) -> None:
    by_name = {Path(d).name: Path(d) for d in claim_dirs}
    names = list(CLAIMS) + [n for n in by_name if n not in CLAIMS]
    sections = [_claim_section(name, by_name.get(name)) for name in names]
    environment = Environment(loader=PackageLoader("grokrepro.report"),
                              autoescape=select_autoescape(["html", "j2"]))
    environment.filters["fmt"] = _fmt
    # A check's control is one mapping or a list of them (see claims.verdict.with_controls).
    environment.filters["as_list"] = lambda v: [] if v is None else (v if isinstance(v, list) else [v])
    html = environment.get_template("report.html.j2").render(sections=sections)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(html)
    os.replace(partial, out)
    if summary is not None:
        lines = [f"{s['name']}\t{s['badge'] if s['implemented'] else 'not implemented'}\t"
                 f"{s['verdict']['scale'] if s['implemented'] else '-'}" for s in sections]
        Path(summary).write_text("\n".join(lines) + f"\nreport: {out}\n")
