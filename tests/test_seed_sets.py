"""Development seeds (the ones settings were chosen on) never overwrite or pass for the verdict seeds' outputs."""

import json
import subprocess

import numpy as np
import pytest

from conftest import ROOT
from grokrepro.cli import main
from grokrepro.metrics.curves import write_atomic
from grokrepro.report import write_report
from helpers import synthetic_curves

pytestmark = pytest.mark.workflow


def verdict_for(tmp_path, *seed_set):
    curves = tmp_path / "curves.nc"
    write_atomic(synthetic_curves([150, 150, 150], [3000, 2000, 1000], [0.4, 0.5, 0.6], [0, 1, 2]), curves)
    out = tmp_path / "grokking" / "verdict.json"
    assert main(["verdict", str(ROOT / "specs/grokking.yaml"), "--scale", "smoke", *seed_set, "--curves", str(curves),
                 "--out", str(out)]) == 0
    return out


def test_verdict_records_and_report_shows_the_seed_set(tmp_path):
    out = verdict_for(tmp_path, "--seed-set", "development")
    assert json.loads(out.read_text())["seed_set"] == "development"
    write_report([out.parent], tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    assert "development seeds" in html and "not a verdict" in html
    assert json.loads(verdict_for(tmp_path / "plain").read_text())["seed_set"] == "verdict"


def test_each_scale_and_seed_set_writes_its_own_results_and_paper_trees(workflow_dir):
    def plan(target, *config):
        done = subprocess.run(["snakemake", "-c2", "--dry-run", target, "--config", *config],
                              cwd=workflow_dir, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout + done.stderr

    development = plan("paper-smoke-development/all", "scale=smoke", "seed_set=development")
    assert "results/smoke-development/grokking/verdict.json" in development
    assert "paper-smoke-development/grokking" in development
    assert "paper-smoke-development/report.html" in development
    assert "results/smoke/" not in development and " paper/" not in development and " paper-smoke/" not in development
    verdict = plan("paper-smoke/all", "scale=smoke")  # the verdict seeds drop the seed set's suffix
    assert "results/smoke/grokking/verdict.json" in verdict and "paper-smoke/report.html" in verdict
    assert "development" not in verdict and " paper/" not in verdict
    default = plan("paper-development/grokking", "seed_set=development")  # the default scale drops the scale's
    assert "results/default-development/grokking/verdict.json" in default and "paper-development/grokking" in default


def test_report_says_a_control_that_could_not_be_computed_was_not_decided(tmp_path):
    """The synthetic curves have no weight_decay coordinate: G3's control cannot be computed, and the report
    must not show it as having failed "as it must"."""
    out = verdict_for(tmp_path)
    checks = json.loads(out.read_text())["checks"]
    (g3,) = [c for c in checks if c["name"] == "G3"]
    assert g3["control"]["status"] == "inconclusive" and not g3["control"]["passed"]
    controls = [k for c in checks if c.get("control") for k in np.atleast_1d(c["control"])]
    write_report([out.parent], tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    assert html.count("could not be computed") == sum(k["status"] == "inconclusive" for k in controls) >= 1
    assert html.count("fails, as it must") == sum(k["status"] == "fail" for k in controls)
