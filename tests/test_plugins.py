"""Plug-ins beside a spec: a researcher's task, model and probe are registered kinds like the library's, found by
the spec's `plugins:` list, recorded in provenance, and run through the real workflow with no library change."""

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
import xarray as xr

from conftest import ROOT, copy_workflow
from grokrepro.registry import MODELS, PROBES, TASKS
from grokrepro.spec import SpecError, expand_runs, load_spec


def readme_plugin() -> str:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- example-plugin:begin -->", 1)[1].split("<!-- example-plugin:end -->", 1)[0]
    return block.split("```python\n", 1)[1].split("```", 1)[0]


# A second plug-in file: a probe and a learning-rate schedule, which the README describes in words.
PROBE_PLUGIN = textwrap.dedent('''
    from typing import Literal

    import numpy as np

    from grokrepro.probes import ProbeSettings
    from grokrepro.registry import PROBES, SCHEDULES, Strict


    class ReadoutNorm(ProbeSettings):
        kind: Literal["readout_norm"]


    @PROBES.register("readout_norm", ReadoutNorm, outputs={"readout_norm": ("1", "Frobenius norm of the read-out")})
    def readout_norm(trainer, settings, logged):
        norms = trainer.params["readout"].detach().flatten(1).norm(dim=1).cpu().numpy()
        return {"readout_norm": np.where(logged, norms, np.nan)}


    class Halving(Strict):
        kind: Literal["halving"]
        every: int = 500


    @SCHEDULES.register("halving", Halving)
    def halving(settings, step, total_steps):
        return 0.5 ** (step // settings.every)
''')

SPEC = textwrap.dedent('''
    claim: lab_square
    paper: "Our lab: a bilinear network on a^2 + b mod p"
    statement: A bilinear network fits a² + b mod 23 before it generalises, at weight decay 1.
    plugins: [lab/kinds.py, lab/probes.py]
    task: {kind: square_plus, prime: 23, train_fraction: 0.5}
    model: {kind: bilinear, width: 64}
    optimizer: {lr: 3.0e-3, weight_decay: 1.0, schedule: {kind: halving, every: 1000}}
    train:
      steps: 2000
      log_every: 50
      probes: [{kind: readout_norm, every: 100}]
    sweep:
      optimizer.weight_decay: [0.0, 1.0]
    seeds: {development: [0], verdict: [1, 2]}
    checks:
      - name: D1
        kind: delayed_generalisation
        statement: At weight decay 1 the network generalises well after it fits.
        where: {weight_decay: 1.0}
        control: {where: {weight_decay: 0.0}, why: without weight decay it does not generalise within the budget.}
    scales:
      smoke:
        differs_from_paper: ["a pipeline test: 60 steps"]
        train: {steps: 60, log_every: 10, probes: [{kind: readout_norm, every: 20}]}
      default: {}
      paper: {}
''')


def write_lab(specs: Path, spec: str = SPEC) -> Path:
    (specs / "lab").mkdir(parents=True, exist_ok=True)
    (specs / "lab" / "kinds.py").write_text(readme_plugin())
    (specs / "lab" / "probes.py").write_text(PROBE_PLUGIN)
    path = specs / "lab_square.yaml"
    path.write_text(spec)
    return path


def test_the_library_does_not_know_the_plugins_kinds_until_a_spec_names_them(tmp_path):
    # run first in its own process: a plug-in loaded by another test stays registered in this one
    code = ("from grokrepro.registry import TASKS, MODELS, PROBES; "
            "print('square_plus' in TASKS, 'bilinear' in MODELS, 'readout_norm' in PROBES)")
    done = subprocess.run(["python", "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False", "False"]


def test_a_spec_with_plugins_validates_and_expands(tmp_path):
    spec = load_spec(write_lab(tmp_path), "smoke")
    assert spec.task.kind == "square_plus" and spec.model.kind == "bilinear"
    assert spec.train.probes[0].kind == "readout_norm" and spec.optimizer.schedule.kind == "halving"
    assert "square_plus" in TASKS and "bilinear" in MODELS and "readout_norm" in PROBES
    runs = expand_runs(spec)
    assert {r.coords["weight_decay"] for r in runs} == {0.0, 1.0}
    # the model's per-run init_scale and the optimizer's rates do not split the vmapped group
    assert len({r.group_key for r in runs}) == 1


def test_a_plugin_kinds_settings_are_validated_like_the_librarys(tmp_path):
    path = write_lab(tmp_path, SPEC.replace("prime: 23", "prime: 1"))
    with pytest.raises(SpecError, match=r"field 'task\.prime' = 1: Input should be greater than or equal to 2"):
        load_spec(path)


def test_a_missing_plugin_file_is_named(tmp_path):
    path = write_lab(tmp_path, SPEC.replace("lab/probes.py", "lab/nowhere.py"))
    with pytest.raises(SpecError, match=r"lab_square\.yaml: field 'plugins': plug-in 'lab/nowhere\.py': no such file"):
        load_spec(path)


def test_a_plugin_that_fails_to_import_is_named_with_its_error(tmp_path):
    path = write_lab(tmp_path)
    (tmp_path / "lab" / "probes.py").write_text("import numpy\nraise RuntimeError('half-written')\n")
    with pytest.raises(SpecError, match=r"plug-in 'lab/probes\.py' failed to import: RuntimeError: half-written"):
        load_spec(path)


def test_an_unknown_kind_lists_the_known_ones_plugins_included(tmp_path):
    path = write_lab(tmp_path, SPEC.replace("kind: bilinear", "kind: trilinear"))
    with pytest.raises(SpecError, match=r"field 'model'.*'trilinear'.*'bilinear'"):
        load_spec(path)


def test_a_probe_that_writes_an_undeclared_variable_is_refused():
    from grokrepro.metrics.curves import units

    assert units("train_loss")[1].startswith("training loss")
    with pytest.raises(ValueError, match="neither a trainer metric nor a declared probe output"):
        units("something_else")


@pytest.mark.workflow
def test_a_plugin_claim_runs_through_the_workflow_to_a_verdict_figures_and_report(tmp_path):
    directory = copy_workflow(tmp_path / "wf")
    write_lab(directory / "specs")
    library = {p: p.read_bytes() for p in (ROOT / "grokrepro").rglob("*.py")}
    done = subprocess.run(["snakemake", "-c2", "paper-smoke/lab_square", "--config", "scale=smoke"], cwd=directory,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    published = next(directory.glob("paper*/lab_square"))
    verdict = json.loads((published / "verdict.json").read_text())
    assert verdict["verdict"] in ("reproduced", "not_reproduced", "inconclusive")
    kinds_sha = verdict["plugin_sha256"]["lab/kinds.py"]
    assert len(kinds_sha) == 64 and set(verdict["plugin_sha256"]) == {"lab/kinds.py", "lab/probes.py"}
    assert {p.name for p in published.glob("*.png")} >= {"all_runs_accuracy.png", "all_runs_probes.png"}
    curves = xr.open_dataset(directory / "results" / "smoke" / "lab_square" / "curves.nc")
    assert "readout_norm" in curves and curves["readout_norm"].notnull().any()
    provenance = json.loads(curves.attrs["group_provenance"])
    assert all(json.loads(group["plugin_sha256"])["lab/kinds.py"] == kinds_sha for group in provenance.values())
    # the report has a section for the plug-in's claim
    report = tmp_path / "report.html"
    subprocess.run(["python", "-m", "grokrepro.cli", "report", "--out", str(report), str(published)], check=True)
    assert "lab_square" in report.read_text() and "Our lab: a bilinear network" in report.read_text()
    # editing a plug-in retrains its claim's groups
    plugin = directory / "specs" / "lab" / "kinds.py"
    plugin.write_text(plugin.read_text() + "\n# edited\n")
    dry = subprocess.run(["snakemake", "-n", "paper-smoke/lab_square", "--config", "scale=smoke"], cwd=directory,
                         capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0 and "rule train:" in dry.stdout, dry.stdout[-2000:]
    # and nothing under grokrepro/ changed
    assert {p: p.read_bytes() for p in (ROOT / "grokrepro").rglob("*.py")} == library
