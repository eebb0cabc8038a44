import sys
from pathlib import Path

from grokrepro.claims.catalog import CLAIMS
from grokrepro.figures import figure_names
from grokrepro.spec import SpecError, expand_runs, load_spec, training_groups
from grokrepro.spec.runs import datasets

SCALE = config["scale"]
SEED_SET = config["seed_set"]
# Other seed sets than the verdict seeds get their own trees, so they never overwrite or pass for verdicts.
SEED_SUFFIX = "" if SEED_SET == "verdict" else f"-{SEED_SET}"
RESULTS = f"results/{SCALE}{SEED_SUFFIX}"
LOGS = f"logs/{SCALE}{SEED_SUFFIX}"
PAPER = f"paper{SEED_SUFFIX}"
TORCH_THREADS = int(config["torch_threads"])

SPECS = {name: f"specs/{name}.yaml" for name in CLAIMS if Path(f"specs/{name}.yaml").is_file()}
NOT_IMPLEMENTED = [name for name in CLAIMS if name not in SPECS]

# A bad spec stops the workflow here, before any job starts, with the message naming file and field.
try:
    RESOLVED = {name: load_spec(path, SCALE) for name, path in SPECS.items()}
except SpecError as error:
    sys.stderr.write(f"grokrepro: invalid spec, nothing was run.\n{error}\n")
    sys.exit(1)

RUNS = {name: expand_runs(spec, SEED_SET) for name, spec in RESOLVED.items()}
GROUPS = {name: training_groups(runs) for name, runs in RUNS.items()}
DATASETS = {name: datasets(runs) for name, runs in RUNS.items()}


wildcard_constraints:
    claim="|".join(SPECS) or "no-claim",
    missing="|".join(NOT_IMPLEMENTED) or "no-claim",
    group=r"g[0-9a-f]+",
    dataset=r"d[0-9a-f]+",
    figure=r"[a-z0-9_]+",


def group_files(wildcards):
    return [f"{RESULTS}/{wildcards.claim}/runs/{group}.nc" for group in GROUPS[wildcards.claim]]


def group_data(wildcards):
    runs = GROUPS[wildcards.claim][wildcards.group]
    return sorted({f"{RESULTS}/{wildcards.claim}/data/{run.dataset_id}.npz" for run in runs})


def claim_figures(wildcards):
    return [f"{RESULTS}/{wildcards.claim}/figures/{name}.png" for name in figure_names(wildcards.claim)]
